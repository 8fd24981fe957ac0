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

/*
 * The text result of one call site (fn_extra, in fn_mcxt) for one effective
 * identity version.  Per row the helpers then return the same datum: no
 * palloc, no copy.  A result stays valid until the call site is evaluated
 * again, as a result palloc'd in the per-tuple context would (callers that
 * keep a value longer copy it), so the text of an older version is freed
 * when the identity changes: memory stays bounded however often it does.
 */
struct CachedText {
    uint64_t version;
    text *value;
};

static text *site_text(FunctionCallInfo fcinfo, uint64_t version, const char *data, size_t len) {
    auto *site = static_cast<CachedText *>(fcinfo->flinfo->fn_extra);
    if (site != nullptr && site->version == version)
        return site->value;
    if (site == nullptr) {
        site = static_cast<CachedText *>(MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CachedText)));
        fcinfo->flinfo->fn_extra = site;
    }
    if (site->value != nullptr)
        pfree(site->value);
    site->value = nullptr;
    text *value = static_cast<text *>(MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, VARHDRSZ + len));
    SET_VARSIZE(value, VARHDRSZ + len);
    memcpy(VARDATA(value), data, len);
    site->value = value;
    site->version = version;
    return value;
}

extern "C" PGDLLEXPORT Datum dbx_oauth_current_identity(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    if (e == nullptr)
        PG_RETURN_NULL();
    PG_RETURN_TEXT_P(site_text(fcinfo, e->version, e->identity.data(), e->identity.size()));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_current_identity_type(PG_FUNCTION_ARGS) {
    const EffectiveIdentity *e = effective_or_error();
    if (e == nullptr)
        PG_RETURN_NULL();
    const char *name = core::identity_type_name(e->type);
    PG_RETURN_TEXT_P(site_text(fcinfo, e->version, name, strlen(name)));
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
