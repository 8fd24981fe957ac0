/*
 * session_identity.cpp — login and switched identities of this backend.
 *
 * The effective identity is rebuilt only when its source changes; the SQL
 * helpers call session_identity_effective() per row, which costs a role-id
 * compare and a counter compare on the hot path.
 */
#include "core/identity.h"
#include "core/validator.h"

#include "pg/session/session_identity.h"
#include "pg/lifecycle/session_registry.h"

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
    Oid role = InvalidOid;
    std::string role_name;
};

Identity login_identity;
Identity pending_login;
/*
 * set_token switches.  A session-level switch (SET ROLE) and a local one
 * (SET LOCAL ROLE, ends with the transaction) are kept apart, like the
 * role itself: after COMMIT the role is the session-level one again, and so
 * is the identity.
 */
struct Switches {
    Identity session;
    Identity local;
    const Identity &active() const { return local.present ? local : session; }
};
Switches switches;

/*
 * The switches as they were before the first change at each
 * (sub)transaction nesting level, innermost last: an abort of level L
 * restores the oldest entry at a level >= L, as PostgreSQL restores the role.
 */
struct SavedSwitches {
    int level;
    Switches state;
};
std::vector<SavedSwitches> saved_switches;

void remember_switches_before_change() {
    int level = GetCurrentTransactionNestLevel();
    if (saved_switches.empty() || saved_switches.back().level < level)
        saved_switches.push_back(SavedSwitches{level, switches});
}

/* Undoes every change made at nesting level >= level; false when there was none. */
bool restore_switches_from(int level) {
    size_t first = saved_switches.size();
    while (first > 0 && saved_switches[first - 1].level >= level)
        first--;
    if (first == saved_switches.size())
        return false;
    switches = std::move(saved_switches[first].state);
    saved_switches.resize(first);
    return true;
}

/* Role of a switch dropped because its token expired; statements as it fail. */
Oid expired_switch_role = InvalidOid;
std::string expired_switch_role_name;

/*
 * A role change set_token makes itself (to this role) does not end the
 * switch in force: set_token replaces it, or stacks a local one on it.
 */
Oid own_role_change = InvalidOid;
/* The switch state changed where the registry's lock may not be taken. */
bool registry_stale = false;

uint64_t source_version = 1;
EffectiveIdentity effective;
uint64_t effective_built_for = 0;
Oid effective_built_user = InvalidOid;
bool effective_present = false;

TimestampTz to_timestamptz(int64_t unix_seconds) {
    return time_t_to_timestamptz(static_cast<pg_time_t>(unix_seconds));
}

void publish_switch_to_registry() {
    const Identity &active = switches.active();
    if (active.present) {
        const core::VerifiedToken &t = active.token;
        session_registry_set_switch(t.identity.c_str(), core::identity_type_name(t.identity_type),
                                    active.role_name.c_str(), t.fingerprint.c_str(),
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
    effective.scopes.clear();
    return true;
}

void publish_if_stale() {
    if (registry_stale) {
        registry_stale = false;
        publish_switch_to_registry();
    }
}

void xact_callback(XactEvent event, void *) {
    own_role_change = InvalidOid;
    publish_if_stale();
    switch (event) {
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
        if (restore_switches_from(1)) {
            source_version++;
            publish_switch_to_registry();
        }
        break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
    case XACT_EVENT_PREPARE:
        /* SET LOCAL ROLE ends here; a session-level switch (if any) is back */
        if (switches.local.present) {
            switches.local = Identity();
            source_version++;
            publish_switch_to_registry();
        }
        break;
    default:
        return;
    }
    saved_switches.clear();
}

void subxact_callback(SubXactEvent event, SubTransactionId, SubTransactionId, void *) {
    if (event == SUBXACT_EVENT_ABORT_SUB)
        own_role_change = InvalidOid;
    int level = GetCurrentTransactionNestLevel();
    if (event == SUBXACT_EVENT_ABORT_SUB) {
        if (restore_switches_from(level)) {
            source_version++;
            publish_switch_to_registry();
        }
    } else if (event == SUBXACT_EVENT_COMMIT_SUB && !saved_switches.empty() &&
               saved_switches.back().level == level) {
        /* the parent keeps the older saved state if it has one */
        if (saved_switches.size() > 1 && saved_switches[saved_switches.size() - 2].level == level - 1)
            saved_switches.pop_back();
        else
            saved_switches.back().level = level - 1;
    }
}

void subxact_callback_guarded(SubXactEvent event, SubTransactionId my, SubTransactionId parent, void *arg) {
    try {
        subxact_callback(event, my, parent, arg);
    } catch (...) {
        switches = Switches();
        saved_switches.clear();
        source_version++;
    }
}

/* Catches C++ exceptions: a transaction callback must never throw. */
void xact_callback_guarded(XactEvent event, void *arg) {
    try {
        xact_callback(event, arg);
    } catch (...) {
        switches = Switches();
        saved_switches.clear();
        source_version++;
    }
}

}  // namespace

void session_identity_stage_login(const core::VerifiedToken &token) {
    pending_login.present = true;
    pending_login.token = token;
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

void session_identity_expect_role_change(Oid roleid) noexcept {
    own_role_change = roleid;
}

void session_identity_role_changed() noexcept {
    const Identity &active = switches.active();
    if (!active.present)
        return;
    Oid user = GetOuterUserId();
    if (OidIsValid(own_role_change) && own_role_change == user) {
        own_role_change = InvalidOid;
        return;
    }
    if (active.role == user)
        return;
    /*
     * Ended for good: going back to the role later (SET ROLE, set_config,
     * a function's SET clause, in a DO block or not) finds no switch.  Only
     * a rollback of the change itself brings the switch back, as it brings
     * the role back; while a transaction is being cleaned up (the role
     * restored on abort or commit) nothing is remembered for a later abort.
     */
    if (IsTransactionState()) {
        try {
            remember_switches_before_change();
        } catch (...) {
            saved_switches.clear();
        }
    }
    switches = Switches();
    source_version++;
    registry_stale = true;
}

bool session_identity_switch_active() noexcept {
    const Identity &active = switches.active();
    return active.present && active.role == GetOuterUserId();
}

void session_identity_publish_pending() {
    publish_if_stale();
}

bool session_identity_login_is_service_principal(Oid roleid) {
    return login_identity.present && login_identity.role == roleid &&
           login_identity.token.identity_type == core::IdentityType::service_principal;
}

void session_identity_set_switch(core::VerifiedToken &&token, Oid roleid,
                                 const char *role_name, bool is_local) {
    expired_switch_role = InvalidOid;
    own_role_change = InvalidOid;
    remember_switches_before_change();
    Identity next;
    next.present = true;
    next.token = std::move(token);
    next.role = roleid;
    next.role_name = role_name;
    if (is_local) {
        switches.local = std::move(next);
    } else {
        /* SET ROLE replaces any local role too */
        switches.session = std::move(next);
        switches.local = Identity();
    }
    source_version++;
    publish_switch_to_registry();
}

bool session_identity_clear_switch() {
    bool had_expired = OidIsValid(expired_switch_role);
    expired_switch_role = InvalidOid;
    if (!switches.session.present && !switches.local.present)
        return had_expired;
    remember_switches_before_change();
    switches = Switches();
    source_version++;
    publish_switch_to_registry();
    return true;
}

bool session_identity_switch_is_stale() noexcept {
    const Identity &active = switches.active();
    return active.present && active.role != GetOuterUserId();
}

/* Drops the switch in force for good: neither a rollback nor COMMIT may bring it back. */
static const char *drop_active_switch_for_good() {
    const Identity &active = switches.active();
    expired_switch_role = active.role;
    expired_switch_role_name = active.role_name;
    auto drop_expired = [](Switches &state) {
        for (Identity *id : {&state.session, &state.local}) {
            if (id->present && id->role == expired_switch_role)
                *id = Identity();
        }
    };
    drop_expired(switches);
    for (SavedSwitches &saved : saved_switches)
        drop_expired(saved.state);
    source_version++;
    publish_switch_to_registry();
    return expired_switch_role_name.c_str();
}

const char *session_identity_expired_switch_role(int64_t now_unix, int64_t grace_seconds) {
    Oid user = GetOuterUserId();
    const Identity &active = switches.active();
    if (active.present && active.role == user && now_unix > active.token.expires_at + grace_seconds)
        return drop_active_switch_for_good();
    return nullptr;
}

const core::VerifiedToken *session_identity_active_switch_token() noexcept {
    const Identity &active = switches.active();
    return active.present && active.role == GetOuterUserId() ? &active.token : nullptr;
}

const char *session_identity_drop_active_switch() {
    return session_identity_active_switch_token() ? drop_active_switch_for_good() : nullptr;
}

bool session_identity_effective_cached(const EffectiveIdentity **out) noexcept {
    if (effective_built_for != source_version || effective_built_user != GetOuterUserId())
        return false;
    *out = effective_present ? &effective : nullptr;
    return true;
}

const EffectiveIdentity *session_identity_effective() {
    const EffectiveIdentity *cached = nullptr;
    if (session_identity_effective_cached(&cached))
        return cached;
    Oid user = GetOuterUserId();
    publish_if_stale();

    if (IsParallelWorker()) {
        effective_present = fill_from_leader();
    } else if (switches.active().present && switches.active().role == user) {
        fill_from(switches.active(), true);
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
    RegisterSubXactCallback(subxact_callback_guarded, nullptr);
}

}  // namespace dbx_oauth::pg
