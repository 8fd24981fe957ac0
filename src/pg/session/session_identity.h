/*
 * session_identity.h — this backend's OAuth identity, as the SQL helpers
 * (current_identity() and friends) and volume policies see it.
 *
 * Two layers: the login identity (set once by the auth hook) and a switched
 * identity (set_token).  A switch is honoured only while the current role is
 * still the role set_token switched to, so RESET ROLE, SET ROLE, DISCARD ALL
 * or a rolled-back SET ROLE can never leave a stale identity behind.
 * Parallel workers read their leader's identity from the session registry.
 */
#pragma once

#include "core/validator.h"

#include <string>

extern "C" {
#include "postgres.h"
}

namespace dbx_oauth::pg {

/* The effective identity; plain data, valid until the identity changes. */
struct EffectiveIdentity {
    std::string identity;
    core::IdentityType type = core::IdentityType::user;
    bool switched = false;     /* from set_token */
    int64_t expires_at = 0;    /* unix seconds */
    std::string claims_json;   /* empty in parallel workers */
    std::vector<std::string> scopes;
    uint64_t version = 0;      /* changes whenever the identity changes */
};

/* Auth hook: remember the validated token, then commit once the role checks passed. */
void session_identity_stage_login(const core::VerifiedToken &token);
void session_identity_commit_login(Oid roleid, const char *role_name);

/* set_token: switch to (or drop) a validated identity for role roleid. */
void session_identity_set_switch(core::VerifiedToken &&token, Oid roleid,
                                 const char *role_name, bool is_local);
/* Drops any switch; true when one (or an expired one) was in force. */
bool session_identity_clear_switch();

/*
 * Called after every assignment of the role or session_authorization
 * setting, whatever path made it (SET, RESET, set_config, a function's SET
 * clause, a rollback): a switch whose role is no longer the current role
 * ends for good.  Never throws, takes no lock (the registry is updated at
 * the next statement or transaction end).
 */
void session_identity_role_changed() noexcept;
/* set_token's own role change to roleid follows: it does not end the switch in force. */
void session_identity_expect_role_change(Oid roleid) noexcept;
/* A switch is in force and its role is the current role. */
bool session_identity_switch_active() noexcept;
/* Writes a switch ended by session_identity_role_changed() to the registry. */
void session_identity_publish_pending();
bool session_identity_login_is_oauth();
/* True when this session logged in with a SERVICE_PRINCIPAL token as role roleid. */
bool session_identity_login_is_service_principal(Oid roleid);

/*
 * True when a switch is recorded but the current role is no longer its
 * role: changed by set_config('role', ...), which no utility hook sees.
 * The statement guard then drops the switch (session_identity_clear_switch)
 * so that going back to the role later cannot revive the identity.
 */
bool session_identity_switch_is_stale() noexcept;

/*
 * With expired_session_action = terminate: once the token behind a
 * set_token switch has expired (plus grace), the switch is dropped for good
 * (no rollback or COMMIT brings it back) and the statement about to run
 * fails.  Returns the role name to complain about when the switch was
 * dropped by this call, else nullptr.  reset_token() afterwards also resets
 * the role.
 */
const char *session_identity_expired_switch_role(int64_t now_unix, int64_t grace_seconds);

/* The token of the switch in force (its role is the current role), or nullptr. */
const core::VerifiedToken *session_identity_active_switch_token() noexcept;

/*
 * Revocation: drops the switch in force for good, like an expired one (no
 * rollback or COMMIT brings it back; reset_token() afterwards also resets
 * the role).  Returns its role name, or nullptr when no switch was in force.
 */
const char *session_identity_drop_active_switch();

/* nullptr when the session has no OAuth identity.  May throw (a rebuild allocates). */
const EffectiveIdentity *session_identity_effective();

/*
 * The per-row fast path: true when the cached effective identity is
 * current (then *out is it, or nullptr for none); false when a rebuild is
 * needed, which only session_identity_effective() does.  Never throws.
 */
bool session_identity_effective_cached(const EffectiveIdentity **out) noexcept;

/* For volume policies: the OAuth identity and whether it is a service principal. */
bool session_identity(std::string *identity, bool *is_service_principal);

/* Registers transaction callbacks (from _PG_init). */
void session_identity_init();

}  // namespace dbx_oauth::pg
