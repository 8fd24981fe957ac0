/*
 * datum_helpers.h — building result rows from status structs, where empty
 * text and a zero timestamp mean "not known" and become NULL.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

static inline Datum text_or_null(const char *s, bool *isnull) {
    *isnull = s == nullptr || s[0] == '\0';
    return *isnull ? (Datum) 0 : CStringGetTextDatum(s);
}

static inline Datum ts_or_null(TimestampTz ts, bool *isnull) {
    *isnull = ts == 0;
    return TimestampTzGetDatum(ts);
}
