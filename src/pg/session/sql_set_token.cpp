/*
 * sql_set_token.cpp — dbx_oauth.set_token() and dbx_oauth.reset_token():
 * one shared pool for all users.
 *
 * The pool's own role (an authenticator: a member of the OAuth roles, see
 * dbx_oauth.authenticator_role) connects once, with a password or, when
 * the setting names a SERVICE_PRINCIPAL OAuth role, with that service
 * principal's own token (docs/pooling.md); each transaction hands the
 * end user's token to set_token(token, true), which validates it with the
 * login rules, resolves the role the way login does, switches to it with
 * SET LOCAL ROLE and records the identity for the RLS helpers.  At
 * transaction end (commit or abort) everything is undone, so the connection
 * is safe to hand to the next user under PgBouncer transaction pooling.
 *
 * Plain C style around catalog and GUC calls (they may ereport); C++ only
 * inside cpp_call.
 */
#include "core/identity.h"
#include "core/status.h"
#include "core/validator.h"

#include "pg/common/boundary.h"
#include "pg/common/compat.h"
#include "pg/common/guc.h"
#include "pg/login/login_decision.h"
#include "pg/login/role_labels.h"
#include "pg/session/session_identity.h"
#include "pg/common/stats.h"
#include "pg/keys/token_errors.h"
#include "pg/keys/validate.h"
#include "pg/lifecycle/session_registry.h"
#include "pg/revocation/revocation.h"

extern "C" {
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
}

using namespace dbx_oauth;
using namespace dbx_oauth::pg;

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_set_token);
PG_FUNCTION_INFO_V1(dbx_oauth_reset_token);
}

namespace {

/* What validation found, as plain data. */
struct Validated {
    char identity[SESSION_IDENTITY_MAX] = {0};
    bool is_user = false;
    const char *type_name = "";
    bool has_iat = false;
    int64 issued_at = 0;
    char token_key[SESSION_TOKEN_KEY_MAX] = {0};
};

/* The token validated by the current set_token call (static: survives ereport). */
core::VerifiedToken &validated_token() {
    static core::VerifiedToken token;
    return token;
}

}  // namespace

[[noreturn]] static void refuse(int sqlstate, const char *message, const char *detail) {
    stats_count_set_token(false);
    /* errhidestmt: the statement may hold the token as a literal */
    ereport(ERROR, (errcode(sqlstate), errmsg("%s", message), detail ? errdetail("%s", detail) : 0,
                    errhidestmt(true)));
    pg_unreachable();
}

/*
 * The role the identity may act as: its own, or (as_role given) a group it
 * belongs to.  Whether it may is the login rule (identity_role_refusal), so
 * set_token and both login doors can never disagree.
 */
static Oid resolve_role(const Validated &v, const char *as_role, const char **role_name) {
    if (as_role == nullptr) {
        Oid roleid = find_oauth_role_for_identity(v.identity, v.is_user);
        if (!OidIsValid(roleid))
            refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                   psprintf("no OAuth role for identity \"%s\"", v.identity),
                   "Create it with dbx_oauth.create_role().");
        *role_name = GetUserNameFromId(roleid, false);
        char *label = role_identity_label(roleid);
        if (label == nullptr || identity_role_refusal(roleid, *role_name, label, v.identity, v.type_name))
            refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
                   psprintf("no OAuth role for identity \"%s\"", v.identity),
                   "The role's identity type differs from the token's.");
        return roleid;
    }
    Oid roleid = get_role_oid(as_role, true);
    char *label = OidIsValid(roleid) ? role_identity_label(roleid) : nullptr;
    if (label == nullptr || !role_is_oauth_member(roleid))
        refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
               psprintf("role \"%s\" is not an OAuth role", as_role), nullptr);
    if (identity_role_refusal(roleid, as_role, label, v.identity, v.type_name))
        refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
               psprintf("identity \"%s\" may not act as role \"%s\"", v.identity, as_role), nullptr);
    *role_name = as_role;
    return roleid;
}

/*
 * Token-login sessions may not switch identity, with one exception: the
 * service principal that dbx_oauth.authenticator_role names, logged in with
 * its own token, is the pool's role of an app that has no password role
 * (docs/pooling.md).  USER and GROUP roles never qualify.
 */
static bool login_is_authenticator_service_principal() {
    const char *name = dbx_oauth_authenticator_role;
    if (name == nullptr || name[0] == '\0')
        return false;
    Oid authenticator = get_role_oid(name, true);
    if (!OidIsValid(authenticator) || authenticator != GetSessionUserId() ||
        !session_identity_login_is_service_principal(authenticator))
        return false;
    char *label = role_identity_label(authenticator);
    return label != nullptr && strcmp(label, "SERVICE_PRINCIPAL") == 0;
}

/*
 * Both doors: the function set_token(token, is_local, as_role) (three
 * arguments: the planner fills in the defaults) and the procedure
 * set_token_local(token) (one argument), which is exactly
 * set_token(token, true).  The procedure exists because CALL is a utility
 * statement: no planner and no executor start-up, which is most of what an
 * extra unnamed statement costs a pooled pipelined transaction
 * (docs/pooling.md).  One entry, so both forms keep the same rules.
 */
extern "C" PGDLLEXPORT Datum dbx_oauth_set_token(PG_FUNCTION_ARGS) {
    const bool procedure = PG_NARGS() == 1;
    if (PG_ARGISNULL(0))
        refuse(ERRCODE_NULL_VALUE_NOT_ALLOWED, "token must not be null", nullptr);
    text *token = PG_GETARG_TEXT_PP(0);
    /* NULL must not quietly mean a session-level switch */
    if (!procedure && PG_ARGISNULL(1))
        refuse(ERRCODE_NULL_VALUE_NOT_ALLOWED, "is_local must not be null",
               "Pass true for a switch that ends with the transaction, false for one that lasts the session.");
    bool is_local = procedure || PG_GETARG_BOOL(1);
    const char *as_role = PG_NARGS() > 2 && !PG_ARGISNULL(2) ? text_to_cstring(PG_GETARG_TEXT_PP(2)) : nullptr;

    if (session_identity_login_is_oauth() && !login_is_authenticator_service_principal())
        refuse(ERRCODE_INSUFFICIENT_PRIVILEGE, "cannot switch identity in an OAuth end-user session",
               "Only a password role or the service principal named by dbx_oauth.authenticator_role may call set_token.");

    Validated v;
    PgError err;
    bool token_ok = false;
    if (!cpp_call(&err, [&] {
            std::string_view tok(VARDATA_ANY(token), VARSIZE_ANY_EXHDR(token));
            BackendValidation bv = validate_token_in_backend(tok, true);
            if (!bv.result.ok())
                throw_token_error(bv.result);
            token_ok = true;
            const core::VerifiedToken &t = bv.result.token;
            strlcpy(v.identity, t.identity.c_str(), sizeof v.identity);
            v.is_user = t.identity_type == core::IdentityType::user;
            v.type_name = core::identity_type_name(t.identity_type);
            v.has_iat = t.issued_at.has_value();
            v.issued_at = t.issued_at.value_or(0);
            strlcpy(v.token_key, t.revocation_key.c_str(), sizeof v.token_key);
            /* moved, not copied: bv is gone at the end of this scope */
            validated_token() = std::move(bv.result.token);
        })) {
        if (!token_ok)
            stats_count_set_token(false);
        raise_pg_error(&err);
    }

    const char *revoked = nullptr;
    if (revocation_check(v.identity, v.has_iat, v.issued_at, v.token_key, &revoked) != REVOCATION_OK)
        refuse(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION, "token has been revoked",
               psprintf("Reason: revoked (%s).", revoked ? revoked : "unknown"));

    const char *role_name = nullptr;
    Oid roleid = resolve_role(v, as_role, &role_name);
    /* the authenticator's own token: a switch to itself would pass for an end user */
    if (roleid == GetSessionUserId())
        refuse(ERRCODE_INSUFFICIENT_PRIVILEGE,
               psprintf("cannot switch to the session's own role \"%s\"", role_name),
               "set_token takes end users' tokens, not the authenticator's own.");
    if (!dbx_member_can_set_role(GetSessionUserId(), roleid))
        refuse(ERRCODE_INSUFFICIENT_PRIVILEGE,
               psprintf("permission denied to switch to role \"%s\"", role_name),
               psprintf("Session user \"%s\" must be a member of the role (see dbx_oauth.authenticator_role).",
                        GetUserNameFromId(GetSessionUserId(), false)));

    /* The role switch first: if it fails, no identity was recorded. */
    session_identity_expect_role_change(roleid);
    (void) set_config_option("role", role_name, superuser() ? PGC_SUSET : PGC_USERSET,
                             PGC_S_SESSION, is_local ? GUC_ACTION_LOCAL : GUC_ACTION_SET, true, 0,
                             false);

    if (!cpp_call(&err, [&] { session_identity_set_switch(std::move(validated_token()), roleid, role_name, is_local); }))
        raise_pg_error(&err);

    stats_count_set_token(true);
    /* a procedure returns nothing (its result type is void) */
    if (procedure)
        PG_RETURN_VOID();
    PG_RETURN_TEXT_P(cstring_to_text(v.identity));
}

extern "C" PGDLLEXPORT Datum dbx_oauth_reset_token(PG_FUNCTION_ARGS) {
    PgError err;
    bool had_switch = false;
    if (!cpp_call(&err, [&] { had_switch = session_identity_clear_switch(); }))
        raise_pg_error(&err);
    if (had_switch)
        (void) set_config_option("role", "none", superuser() ? PGC_SUSET : PGC_USERSET,
                                 PGC_S_SESSION, GUC_ACTION_SET, true, 0, false);
    PG_RETURN_VOID();
}
