/*
 * sql_tokens.cpp — dbx_oauth.validate_token() and dbx_oauth.token_status().
 *
 * Both validate with exactly the rules and keys the login hook uses.
 * validate_token raises SQLSTATE 28000 naming the reason; token_status never
 * raises for a bad token.  Neither ever echoes token text.
 */
#include "core/status.h"
#include "core/validator.h"

#include "pg/common/boundary.h"
#include "pg/keys/token_errors.h"
#include "pg/keys/validate.h"

extern "C" {
#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

using namespace dbx_oauth;
using namespace dbx_oauth::pg;

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_validate_token);
PG_FUNCTION_INFO_V1(dbx_oauth_token_status);
}

static std::string text_arg(text *t) {
    return std::string(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_validate_token(PG_FUNCTION_ARGS) {
    text *token = PG_GETARG_TEXT_PP(0);
    PgError err;
    char *claims = nullptr;
    if (!cpp_call(&err, [&] {
            BackendValidation v = validate_token_in_backend(text_arg(token), true);
            if (!v.result.ok())
                throw_token_error(v.result);
            claims = pstrdup_cpp(v.result.token.claims_json);
        }))
        raise_pg_error(&err);
    PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(claims)));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_token_status(PG_FUNCTION_ARGS) {
    TupleDesc tupdesc;
    if (get_call_result_type(fcinfo, nullptr, &tupdesc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("function returning record called in context that cannot accept type record")));
    tupdesc = BlessTupleDesc(tupdesc);

    Datum values[5] = {0};
    bool nulls[5] = {false, false, true, true, true};
    text *token = PG_GETARG_TEXT_PP(0);

    PgError err;
    bool valid = false;
    char *reason = nullptr;
    char *identity = nullptr;
    const char *identity_type = nullptr;
    int64 expires_at = 0;
    if (!cpp_call(&err, [&] {
            BackendValidation v = validate_token_in_backend(text_arg(token), true);
            valid = v.result.ok();
            reason = pstrdup_cpp(core::reason_name(v.result.reason));
            if (valid) {
                identity = pstrdup_cpp(v.result.token.identity);
                identity_type = core::identity_type_name(v.result.token.identity_type);
                expires_at = v.result.token.expires_at;
            }
        }))
        raise_pg_error(&err);

    values[0] = BoolGetDatum(valid);
    values[1] = CStringGetTextDatum(reason);
    if (valid) {
        values[2] = CStringGetTextDatum(identity);
        values[3] = CStringGetTextDatum(identity_type);
        values[4] = TimestampTzGetDatum(time_t_to_timestamptz(static_cast<pg_time_t>(expires_at)));
        nulls[2] = nulls[3] = nulls[4] = false;
    }
    HeapTuple tuple = heap_form_tuple(tupdesc, values, nulls);
    PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}
