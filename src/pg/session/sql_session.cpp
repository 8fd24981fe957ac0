/*
 * sql_session.cpp — the identity helpers RLS policies call, per row:
 * current_identity(), current_identity_type(), is_service_principal(),
 * claims(), claim(name), has_scope(scope), token_expires_at().
 *
 * Each reads the backend's effective identity, which is rebuilt only when
 * it changes; no JSON is parsed per call.  They return NULL (false for the
 * booleans) when the session has no OAuth identity.
 */
#include "core/identity.h"

#include <nlohmann/json.hpp>

#include "pg/session/session_identity.h"

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
}

#include "pg/common/boundary.h"

using namespace dbx_oauth;
using namespace dbx_oauth::pg;

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_current_identity);
PG_FUNCTION_INFO_V1(dbx_oauth_current_identity_type);
PG_FUNCTION_INFO_V1(dbx_oauth_is_service_principal);
PG_FUNCTION_INFO_V1(dbx_oauth_claims);
PG_FUNCTION_INFO_V1(dbx_oauth_claim);
PG_FUNCTION_INFO_V1(dbx_oauth_has_scope);
PG_FUNCTION_INFO_V1(dbx_oauth_token_expires_at);
}

/* The effective identity; only a rebuild (which allocates) needs the C++ guard. */
static const EffectiveIdentity *effective_or_error() {
    const EffectiveIdentity *e = nullptr;
    if (session_identity_effective_cached(&e))
        return e;
    PgError err;
    if (!cpp_call(&err, [&] { e = session_identity_effective(); }))
        raise_pg_error(&err);
    return e;
}

static text *text_from(const std::string &s) {
    return cstring_to_text_with_len(s.data(), static_cast<int>(s.size()));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_current_identity(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    if (e == nullptr)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(text_from(e->identity));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_current_identity_type(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    if (e == nullptr)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(core::identity_type_name(e->type)));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_is_service_principal(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    PG_RETURN_BOOL(e != nullptr && e->type == core::IdentityType::service_principal);
}

extern "C" PGDLLEXPORT Datum dbx_oauth_token_expires_at(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    if (e == nullptr)
        PG_RETURN_NULL();
    PG_RETURN_TIMESTAMPTZ(time_t_to_timestamptz(static_cast<pg_time_t>(e->expires_at)));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_claims(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    if (e == nullptr || e->claims_json.empty())
        PG_RETURN_NULL();
    PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(e->claims_json.c_str())));
}

/*
 * The claims as a JSON document, parsed on first use after each identity
 * change (most sessions never call claim(), so set_token and login do not
 * pay for a parse).  Not an object when the session has no claims text.
 */
static const nlohmann::json &parsed_claims(const EffectiveIdentity &e) {
    static uint64_t parsed_version = 0; /* effective versions start at 1 */
    static nlohmann::json parsed;
    if (parsed_version != e.version) {
        parsed = nlohmann::json::parse(e.claims_json, nullptr, /*allow_exceptions=*/false);
        parsed_version = e.version;
    }
    return parsed;
}

/* A claim as text: strings unquoted, other values as JSON text. */
extern "C" PGDLLEXPORT Datum dbx_oauth_claim(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    if (e == nullptr || e->claims_json.empty())
        PG_RETURN_NULL();
    text *name_arg = PG_GETARG_TEXT_PP(0);
    std::string name(VARDATA_ANY(name_arg), VARSIZE_ANY_EXHDR(name_arg));

    PgError err;
    char *value = nullptr;
    if (!cpp_call(&err, [&] {
            const nlohmann::json &claims = parsed_claims(*e);
            if (!claims.is_object())
                return;
            auto it = claims.find(name);
            if (it == claims.end() || it->is_null())
                return;
            value = pstrdup_cpp(it->is_string() ? it->get<std::string>() : it->dump());
        }))
        raise_pg_error(&err);
    if (value == nullptr)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(cstring_to_text(value));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_has_scope(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    if (e == nullptr)
        PG_RETURN_BOOL(false);
    text *scope_arg = PG_GETARG_TEXT_PP(0);
    size_t len = VARSIZE_ANY_EXHDR(scope_arg);
    const char *scope = VARDATA_ANY(scope_arg);
    for (const std::string &s : e->scopes) {
        if (s.size() == len && memcmp(s.data(), scope, len) == 0)
            PG_RETURN_BOOL(true);
    }
    PG_RETURN_BOOL(false);
}
