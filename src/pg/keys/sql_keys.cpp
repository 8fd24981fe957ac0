/*
 * sql_keys.cpp — dbx_oauth.keys() (behind the keys view),
 * dbx_oauth.worker_status() and dbx_oauth.refresh_keys().
 *
 * All three only read shared memory or signal the worker: no network I/O
 * happens in a backend.  Privileges are set in src/sql/20_keys.sql
 * (pg_monitor may read, refresh_keys is revoked from PUBLIC).
 */
#include "core/jwk.h"

#include "pg/common/boundary.h"
#include "pg/common/datum_helpers.h"
#include "pg/common/guc.h"
#include "pg/keys/key_store.h"

extern "C" {
#include "fmgr.h"
#include "utils/tuplestore.h"
#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

using dbx_oauth::pg::cpp_call;
using dbx_oauth::pg::pg_call;
using dbx_oauth::pg::PgError;

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_keys);
PG_FUNCTION_INFO_V1(dbx_oauth_worker_status);
PG_FUNCTION_INFO_V1(dbx_oauth_refresh_keys);
}

namespace {

/* One row of the keys view; PostgreSQL calls only, run under pg_call. */
void put_key_row(ReturnSetInfo *rsinfo, const IssuerKeys &slot, const dbx_oauth::core::Jwk &key) {
    Datum values[6];
    bool nulls[6] = {false};
    values[0] = CStringGetTextDatum(slot.issuer.c_str());
    values[1] = text_or_null(key.kid.c_str(), &nulls[1]);
    values[2] = CStringGetTextDatum(dbx_oauth::core::key_type_name(key.kty));
    values[3] = text_or_null(key.alg.c_str(), &nulls[3]);
    values[4] = CStringGetTextDatum(key_source_name(slot.source));
    values[5] = ts_or_null(slot.fetched_at, &nulls[5]);
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* An interval of whole seconds (time part only, like make_interval(secs => n)). */
Datum seconds_interval(int64 seconds) {
    Interval *iv = static_cast<Interval *>(palloc0(sizeof(Interval)));
    iv->time = seconds * USECS_PER_SEC;
    return IntervalPGetDatum(iv);
}

void put_status_row(ReturnSetInfo *rsinfo, const KeyStoreStatus &st, const IssuerKeys *slot) {
    Datum values[9];
    bool nulls[9] = {false};
    values[0] = CStringGetTextDatum(st.issuer);
    values[1] = ts_or_null(st.last_attempt, &nulls[1]);
    values[2] = ts_or_null(st.last_success, &nulls[2]);
    values[3] = text_or_null(st.last_error, &nulls[3]);
    values[4] = Int32GetDatum(st.consecutive_failures);
    values[5] = ts_or_null(st.next_refresh, &nulls[5]);
    values[6] = Int32GetDatum(slot ? slot->key_count : 0);
    values[7] = text_or_null(slot ? key_source_name(slot->source) : nullptr, &nulls[7]);
    nulls[8] = !st.clock_measured;
    values[8] = st.clock_measured ? seconds_interval(st.clock_offset_s) : (Datum) 0;
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

const IssuerKeys *find_slot(const std::vector<IssuerKeys> &slots, const char *issuer) {
    for (const IssuerKeys &s : slots) {
        if (s.issuer == issuer)
            return &s;
    }
    return nullptr;
}

/* Upper bound for one refresh round: every issuer may try both discovery
 * URLs and the JWKS URL, each up to http_timeout. */
int refresh_wait_ms(void) {
    int issuers = 1;
    for (const char *p = dbx_oauth_issuers; p != nullptr && *p; p++)
        issuers += *p == ',';
    long ms = 3L * dbx_oauth_http_timeout * issuers + 5000L;
    return (int) Min(ms, 600000L);
}

}  // namespace

extern "C" PGDLLEXPORT Datum dbx_oauth_keys(PG_FUNCTION_ARGS) {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    PgError err;
    if (!cpp_call(&err, [&] {
            uint64 version = 0;
            std::vector<IssuerKeys> slots = key_store_copy(&version);
            for (const IssuerKeys &slot : slots) {
                /* The worker checked the text before publishing it. */
                dbx_oauth::core::JwksParseResult parsed = dbx_oauth::core::parse_jwks(slot.jwks_json, dbx_oauth::core::KeyCheck::trusted_source);
                if (!parsed.ok)
                    continue;
                for (const dbx_oauth::core::Jwk &key : parsed.jwks.keys)
                    pg_call([&] { put_key_row(rsinfo, slot, key); });
            }
        }))
        raise_pg_error(&err);
    return (Datum) 0;
}

extern "C" PGDLLEXPORT Datum dbx_oauth_worker_status(PG_FUNCTION_ARGS) {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    PgError err;
    if (!cpp_call(&err, [&] {
            uint64 version = 0;
            std::vector<IssuerKeys> slots = key_store_copy(&version);
            for (const KeyStoreStatus &st : key_store_copy_status()) {
                const IssuerKeys *slot = find_slot(slots, st.issuer);
                pg_call([&] { put_status_row(rsinfo, st, slot); });
            }
        }))
        raise_pg_error(&err);
    return (Datum) 0;
}

/*
 * Collects "issuer: error" for issuers whose attempt since `since` failed,
 * into err (elevel WARNING).  Returns false when all succeeded.
 */
static bool collect_failures(TimestampTz since, PgError *warning) {
    PgError err;
    bool failed = false;
    bool ok = cpp_call(&err, [&] {
        std::string detail;
        for (const KeyStoreStatus &st : key_store_copy_status()) {
            if (st.last_attempt < since || st.consecutive_failures == 0)
                continue;
            if (!detail.empty())
                detail += "\n";
            detail += std::string("Issuer \"") + st.issuer + "\": " + st.last_error;
        }
        if (!detail.empty()) {
            failed = true;
            dbx_oauth::pg::fill_pg_error(warning, ERRCODE_WARNING, "could not refresh the keys of every issuer",
                                         detail.c_str(), "The last good keys stay in use; see dbx_oauth.worker_status().");
        }
    });
    return ok && failed;
}

extern "C" PGDLLEXPORT Datum dbx_oauth_refresh_keys(PG_FUNCTION_ARGS) {
    TimestampTz started = GetCurrentTimestamp();
    bool changed = false;
    int timeout_ms = refresh_wait_ms();
    switch (key_store_refresh_and_wait(timeout_ms, &changed)) {
    case KEY_REFRESH_NO_WORKER:
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("dbx_oauth key refresh worker is not running"),
                        errhint("The worker starts with the server when dbx_oauth is in shared_preload_libraries; "
                                "if it just crashed, it restarts within seconds.")));
        break;
    case KEY_REFRESH_TIMEOUT:
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("dbx_oauth key refresh did not finish within %d ms", timeout_ms),
                        errhint("See dbx_oauth.worker_status() for the state of each issuer.")));
        break;
    case KEY_REFRESH_DONE:
        break;
    }
    PgError warning;
    if (collect_failures(started, &warning))
        ereport(WARNING, (errmsg("%s", warning.message), errdetail("%s", warning.detail),
                          errhint("%s", warning.hint)));
    PG_RETURN_BOOL(changed);
}
