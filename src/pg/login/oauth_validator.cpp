/*
 * oauth_validator.cpp — the PostgreSQL 18 OAuth door: this library as an
 * OAuth validator module (oauth_validator_libraries = 'dbx_oauth').
 *
 * PostgreSQL 18 speaks SASL OAUTHBEARER itself on hba lines with method
 * oauth and hands the bearer token to the validator.  The token then takes
 * the same decision as on the password door (login_decision.cpp): keys
 * from shared memory only (the validator never touches the network), the
 * same reasons in the log, the same session identity.
 *
 *   - delegate_ident_mapping=1: the validator is the authority.  The role
 *     must be an OAuth role (labelled, member of dbx_oauth_users) and the
 *     token's identity must be allowed to use it: USER and
 *     SERVICE_PRINCIPAL roles by identity, GROUP roles by membership.
 *   - otherwise: a valid token is authorized and its identity becomes the
 *     authenticated identity (SYSTEM_USER); PostgreSQL's ident map decides
 *     which roles it may use.
 *
 * Either way the token must come from the issuer the hba line names (one
 * of dbx_oauth.issuers), so a line for one workspace does not admit another
 * workspace's tokens.  A refusal is "not authorized" to PostgreSQL, which
 * tells the client only that OAuth authentication failed; the reason goes
 * to the server log, never the token.  The library is loaded through
 * shared_preload_libraries as ever (_PG_init refuses any other way), so the
 * key store and workers exist before the first validation and the
 * validator keeps no state of its own.  See docs/operator-guide.md.
 */
#include "pg/login/oauth_validator.h"
#include "pg/common/compat.h"

#if DBX_OAUTH_HAS_OAUTH_VALIDATOR

#include "pg/common/guc.h"
#include "pg/common/stats.h"
#include "pg/login/login_decision.h"
#include "pg/login/role_labels.h"

extern "C" {
#include "fmgr.h"
#include "libpq/auth.h"
#include "libpq/hba.h"
#include "libpq/libpq-be.h"
#include "libpq/oauth.h"
#include "miscadmin.h"
#include "utils/acl.h"
}

#include <sys/socket.h>

static constexpr const char *kDoor = "oauth";

static ClientAuthentication_hook_type prev_client_auth_hook = nullptr;

/* A token the validator accepted, until PostgreSQL's own decision. */
static LoginDecision pending;
static Oid pending_role = InvalidOid;
static bool pending_set = false;

/* Logs the refusal; PostgreSQL then fails the login without saying why. */
static void refuse(const LoginDecision &d, const char *role) {
    const char *client = MyProcPort && MyProcPort->remote_host ? MyProcPort->remote_host : "";
    stats_count_login(false);
    ereport(LOG, (errmsg("%s", login_rejection_text(d.reason, d.detail, role, d.identity, client,
                                                     d.fingerprint, kDoor))));
}

static void refuse_early(const char *reason, const char *detail, const char *role) {
    LoginDecision d;
    memset(&d, 0, sizeof d);
    strlcpy(d.reason, reason, sizeof d.reason);
    strlcpy(d.detail, detail ? detail : "", sizeof d.detail);
    refuse(d, role);
}

static bool dbx_oauth_validate(const ValidatorModuleState *state, const char *token,
                               const char *role, ValidatorModuleResult *result) {
    result->authorized = false;
    result->authn_id = nullptr;

    pending_set = false;

    Port *port = MyProcPort;
    if (port == nullptr || port->hba == nullptr)
        return false; /* not called from client authentication: internal error */
    const bool delegated = port->hba->oauth_skip_usermap;

    if (dbx_oauth_require_ssl && port->raddr.addr.ss_family != AF_UNIX && !port->ssl_in_use) {
        refuse_early("ssl_required", "(TCP connection without SSL)", role);
        return true;
    }

    /*
     * With the decision delegated, the role must be an OAuth role; the
     * label says which rule applies to it.  Without, the ident map decides
     * and the role plays no part here.
     */
    Oid roleid = InvalidOid;
    char *label = nullptr;
    if (delegated) {
        roleid = get_role_oid(role, true);
        if (OidIsValid(roleid) && role_is_oauth_member(roleid))
            label = role_identity_label(roleid);
        if (label == nullptr) {
            refuse_early("not_an_oauth_role", "(not a labelled member of dbx_oauth_users)", role);
            return true;
        }
    }

    LoginDecision d;
    login_decide(token, roleid, role, label, port->hba->oauth_issuer, &d);
    if (d.internal_error) {
        refuse(d, role);
        return false;
    }
    /* Also for a token refused for this role: PostgreSQL logs who it was. */
    if (d.identity[0] != '\0')
        result->authn_id = pstrdup(d.identity);
    if (!d.accepted) {
        refuse(d, role);
        return true;
    }

    /*
     * Without delegation the ident map still decides after this returns:
     * the login is recorded only once PostgreSQL has accepted it
     * (oauth_door_client_authentication).
     */
    pending = d;
    pending_role = roleid;
    pending_set = true;
    result->authorized = true;
    return true;
}

/*
 * Runs when PostgreSQL has decided: records the session identity of an
 * accepted OAuth login, or logs why a token the validator accepted was
 * still refused (the ident map).
 */
static void oauth_door_client_authentication(Port *port, int status) {
    if (prev_client_auth_hook)
        prev_client_auth_hook(port, status);
    if (!pending_set)
        return;
    pending_set = false;
    const char *client = port->remote_host ? port->remote_host : "";
    if (status != STATUS_OK) {
        strlcpy(pending.reason, "ident_map_mismatch", sizeof pending.reason);
        strlcpy(pending.detail, "(pg_hba.conf map does not allow this identity for the role)",
                sizeof pending.detail);
        refuse(pending, port->user_name);
        return;
    }
    Oid roleid = OidIsValid(pending_role) ? pending_role : get_role_oid(port->user_name, true);
    if (!login_decision_accept(&pending, roleid, port->user_name, client, kDoor)) {
        stats_count_login(false);
        ereport(FATAL,
                (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
                 errmsg("OAuth bearer authentication failed for user \"%s\"", port->user_name),
                 errdetail_log("%s", login_rejection_text(pending.reason, pending.detail, port->user_name,
                                                          pending.identity, client, pending.fingerprint,
                                                          kDoor))));
    }
}

static const OAuthValidatorCallbacks dbx_oauth_validator_callbacks = {
    PG_OAUTH_VALIDATOR_MAGIC,
    nullptr, /* startup_cb: the state lives in shared memory, set up by _PG_init */
    nullptr, /* shutdown_cb: nothing to release */
    dbx_oauth_validate,
};

extern "C" PGDLLEXPORT const OAuthValidatorCallbacks *_PG_oauth_validator_module_init(void) {
    return &dbx_oauth_validator_callbacks;
}

void oauth_door_install(void) {
    prev_client_auth_hook = ClientAuthentication_hook;
    ClientAuthentication_hook = oauth_door_client_authentication;
}

#else

void oauth_door_install(void) {}

#endif /* DBX_OAUTH_HAS_OAUTH_VALIDATOR */
