/*
 * session_identity.cpp — login and switched identities of this backend.
 *
 * The effective identity is rebuilt only when its source changes; the SQL
 * helpers call session_identity_effective() per row, which costs a role-id
 * compare and a counter compare on the hot path.
 */
#include "core/identity.h"
#include "core/validator.h"

#include <nlohmann/json.hpp>

#include "pg/session_identity.h"
#include "pg/session_registry.h"

extern "C" {
#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/timestamp.h"
}

namespace dbx_oauth::pg {

namespace {

struct Identity {
    bool present = false;
    core::VerifiedToken token;
    nlohmann::json claims;
    Oid role = InvalidOid;
    std::string role_name;
};

Identity login_identity;
Identity pending_login;
Identity switch_identity;
bool switch_is_local = false;

/* State of the switch at the start of the current transaction, for rollback. */
bool xact_saved = false;
Identity saved_switch;
bool saved_switch_is_local = false;

/* Role of a switch dropped because its token expired; statements as it fail. */
Oid expired_switch_role = InvalidOid;
std::string expired_switch_role_name;

uint64_t source_version = 1;
EffectiveIdentity effective;
uint64_t effective_built_for = 0;
Oid effective_built_user = InvalidOid;
bool effective_present = false;

TimestampTz to_timestamptz(int64_t unix_seconds) {
    return time_t_to_timestamptz(static_cast<pg_time_t>(unix_seconds));
}

void publish_switch_to_registry() {
    if (switch_identity.present) {
        const core::VerifiedToken &t = switch_identity.token;
        session_registry_set_switch(t.identity.c_str(), core::identity_type_name(t.identity_type),
                                    switch_identity.role_name.c_str(), t.fingerprint.c_str(),
                                    to_timestamptz(t.expires_at));
    } else {
        session_registry_clear_switch();
    }
}

void fill_from(const Identity &id, bool switched) {
    effective.identity = id.token.identity;
    effective.type = id.token.identity_type;
    effective.switched = switched;
    effective.expires_at = id.token.expires_at;
    effective.claims_json = id.token.claims_json;
    effective.claims = &id.claims;
    effective.scopes = id.token.scopes;
}

/* A parallel worker takes its leader's identity from the session registry. */
bool fill_from_leader() {
    SessionSnapshot snap;
    if (!session_registry_read(ParallelLeaderBackendId, &snap))
        return false;
    bool use_switch = snap.method == SESSION_AUTH_SET_TOKEN;
    if (use_switch) {
        const char *outer = GetUserNameFromId(GetOuterUserId(), true);
        use_switch = outer != nullptr && strcmp(outer, snap.role_name) == 0;
    }
    const char *identity = use_switch ? snap.identity : snap.login_identity;
    const char *type = use_switch ? snap.identity_type : snap.login_identity_type;
    if (!use_switch && !snap.login_oauth)
        return false;
    effective.identity = identity;
    effective.type = core::parse_identity_type(type).value_or(core::IdentityType::user);
    effective.switched = use_switch;
    effective.expires_at = static_cast<int64_t>(
        timestamptz_to_time_t(use_switch ? snap.token_expires_at : snap.login_expires_at));
    effective.claims_json.clear();
    effective.claims = nullptr;
    effective.scopes.clear();
    return true;
}

void xact_callback(XactEvent event, void *) {
    switch (event) {
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        if (xact_saved) {
            switch_identity = std::move(saved_switch);
            switch_is_local = saved_switch_is_local;
            source_version++;
            publish_switch_to_registry();
        }
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_PREPARE:
        if (switch_identity.present && switch_is_local) {
            switch_identity = Identity();
            switch_is_local = false;
            source_version++;
            publish_switch_to_registry();
        }
        break;
    default:
        return;
    }
    xact_saved = false;
    saved_switch = Identity();
}

/* Catches C++ exceptions: a transaction callback must never throw. */
void xact_callback_guarded(XactEvent event, void *arg) {
    try {
        xact_callback(event, arg);
    } catch (...) {
        switch_identity = Identity();
        xact_saved = false;
        source_version++;
    }
}

}  // namespace

void session_identity_stage_login(const core::VerifiedToken &token) {
    pending_login.present = true;
    pending_login.token = token;
    pending_login.claims = nlohmann::json::parse(token.claims_json, nullptr, false);
}

void session_identity_commit_login(Oid roleid, const char *role_name) {
    if (!pending_login.present)
        return;
    login_identity = std::move(pending_login);
    login_identity.role = roleid;
    login_identity.role_name = role_name;
    pending_login = Identity();
    source_version++;
    const core::VerifiedToken &t = login_identity.token;
    session_registry_set_login(t.identity.c_str(), core::identity_type_name(t.identity_type),
                               role_name, t.fingerprint.c_str(), to_timestamptz(t.expires_at));
}

bool session_identity_login_is_oauth() {
    return login_identity.present;
}

void session_identity_set_switch(const core::VerifiedToken &token, Oid roleid,
                                 const char *role_name, bool is_local) {
    expired_switch_role = InvalidOid;
    if (!xact_saved) {
        saved_switch = switch_identity;
        saved_switch_is_local = switch_is_local;
        xact_saved = true;
    }
    Identity next;
    next.present = true;
    next.token = token;
    next.claims = nlohmann::json::parse(token.claims_json, nullptr, false);
    next.role = roleid;
    next.role_name = role_name;
    switch_identity = std::move(next);
    switch_is_local = is_local;
    source_version++;
    publish_switch_to_registry();
}

void session_identity_clear_switch() {
    expired_switch_role = InvalidOid;
    if (!switch_identity.present)
        return;
    if (!xact_saved) {
        saved_switch = switch_identity;
        saved_switch_is_local = switch_is_local;
        xact_saved = true;
    }
    switch_identity = Identity();
    switch_is_local = false;
    source_version++;
    publish_switch_to_registry();
}

const char *session_identity_expired_switch_role(int64_t now_unix, int64_t grace_seconds) {
    Oid user = GetOuterUserId();
    if (switch_identity.present && switch_identity.role == user &&
        now_unix > switch_identity.token.expires_at + grace_seconds) {
        /* Dropped for good: a rollback must not bring the identity back. */
        expired_switch_role = switch_identity.role;
        expired_switch_role_name = switch_identity.role_name;
        switch_identity = Identity();
        if (xact_saved)
            saved_switch = Identity();
        source_version++;
        publish_switch_to_registry();
    }
    if (OidIsValid(expired_switch_role) && expired_switch_role == user)
        return expired_switch_role_name.c_str();
    return nullptr;
}

const EffectiveIdentity *session_identity_effective() {
    Oid user = GetOuterUserId();
    if (effective_built_for == source_version && effective_built_user == user)
        return effective_present ? &effective : nullptr;

    if (IsParallelWorker()) {
        effective_present = fill_from_leader();
    } else if (switch_identity.present && switch_identity.role == user) {
        fill_from(switch_identity, true);
        effective_present = true;
    } else if (login_identity.present) {
        fill_from(login_identity, false);
        effective_present = true;
    } else {
        effective_present = false;
    }
    effective.version = ++source_version;
    effective_built_for = source_version;
    effective_built_user = user;
    return effective_present ? &effective : nullptr;
}

bool session_identity(std::string *identity, bool *is_service_principal) {
    const EffectiveIdentity *e = session_identity_effective();
    if (e == nullptr)
        return false;
    *identity = e->identity;
    *is_service_principal = e->type == core::IdentityType::service_principal;
    return true;
}

void session_identity_init() {
    RegisterXactCallback(xact_callback_guarded, nullptr);
}

}  // namespace dbx_oauth::pg
