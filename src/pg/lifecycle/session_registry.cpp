/*
 * session_registry.cpp — the per-backend identity slots in shared memory.
 *
 * A backend writes only its own slot; readers copy a slot under the
 * registry lock.  Writes happen at login and at each set_token, reads when
 * the sessions view or the worker scans, so one LWLock is enough.
 *
 * Eviction reads a second, dense array: per slot, the OAuth login's pid,
 * token expiry and where that backend's own PgBackendStatus and PGPROC
 * live.  A scan walks it once under the shared lock and reads each live
 * session's state in place (the status entry's changecount protocol), so
 * it neither copies the 2 KB slots nor takes PostgreSQL's snapshot of
 * every backend's status and joins the two.  The entry is cleared in a
 * before_shmem_exit callback, which runs before PostgreSQL clears the
 * backend's status entry and leaves the proc array, and needs the
 * exclusive lock: while a scan holds the lock, every pointer it reads
 * still belongs to that pid (checked again against the entry itself).
 */
#include "pg/lifecycle/session_registry.h"

extern "C" {
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
}

#include <cstring>

namespace {

struct Slot {
    bool in_use;
    SessionSnapshot s;
    /* the switched identity (set_token), when switch_active */
    bool switch_active;
    char switch_identity[SESSION_IDENTITY_MAX];
    char switch_type[24];
    char switch_role[NAMEDATALEN];
    char switch_fingerprint[SESSION_FINGERPRINT_LEN];
    TimestampTz switch_expires_at;
    /* the login identity */
    char login_role[NAMEDATALEN];
    char login_fingerprint[SESSION_FINGERPRINT_LEN];
};

/* The eviction view of one slot; pid 0: no OAuth login there. */
struct LoginEntry {
    int pid;
    TimestampTz expires_at;
    volatile PgBackendStatus *status; /* the backend's MyBEEntry */
    volatile PGPROC *proc;            /* the backend's MyProc */
};

struct Registry {
    LWLock *lock;
    int slot_count;
    LoginEntry *logins; /* slot_count entries, after the slots */
    Slot slots[FLEXIBLE_ARRAY_MEMBER];
};

Registry *registry = nullptr;

Size slots_size(int count) {
    return MAXALIGN(add_size(offsetof(Registry, slots), mul_size(count, sizeof(Slot))));
}
bool exit_callback_registered = false;
constexpr const char *kTranche = "dbx_oauth_sessions";

Slot *own_slot() {
    if (registry == nullptr || MyBackendId == InvalidBackendId || MyBackendId > registry->slot_count)
        return nullptr;
    return &registry->slots[MyBackendId - 1];
}

void clear_own_slot(int, Datum) {
    Slot *slot = own_slot();
    if (slot == nullptr)
        return;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    memset(slot, 0, sizeof(*slot));
    memset(&registry->logins[MyBackendId - 1], 0, sizeof(LoginEntry));
    LWLockRelease(registry->lock);
}

/* Claims the slot for this process on first use; cleared again at exit. */
Slot *claim_own_slot() {
    Slot *slot = own_slot();
    if (slot == nullptr)
        return nullptr;
    if (!exit_callback_registered) {
        before_shmem_exit(clear_own_slot, 0);
        exit_callback_registered = true;
    }
    if (!slot->in_use || slot->s.pid != MyProcPid) {
        memset(slot, 0, sizeof(*slot));
        slot->in_use = true;
        slot->s.pid = MyProcPid;
        slot->s.backend_id = MyBackendId;
        slot->s.login_time = MyStartTimestamp;
    }
    return slot;
}

/* Fills the effective-identity part of the snapshot from login or switch. */
void publish_effective(Slot *slot) {
    SessionSnapshot &s = slot->s;
    if (slot->switch_active) {
        s.method = SESSION_AUTH_SET_TOKEN;
        strlcpy(s.identity, slot->switch_identity, sizeof s.identity);
        strlcpy(s.identity_type, slot->switch_type, sizeof s.identity_type);
        strlcpy(s.role_name, slot->switch_role, sizeof s.role_name);
        strlcpy(s.fingerprint, slot->switch_fingerprint, sizeof s.fingerprint);
        s.token_expires_at = slot->switch_expires_at;
    } else if (s.login_oauth) {
        s.method = SESSION_AUTH_LOGIN;
        strlcpy(s.identity, s.login_identity, sizeof s.identity);
        strlcpy(s.identity_type, slot->s.login_identity_type, sizeof s.identity_type);
        strlcpy(s.role_name, slot->login_role, sizeof s.role_name);
        strlcpy(s.fingerprint, slot->login_fingerprint, sizeof s.fingerprint);
        s.token_expires_at = s.login_expires_at;
    } else {
        s.method = SESSION_AUTH_NONE;
        s.identity[0] = s.identity_type[0] = s.role_name[0] = s.fingerprint[0] = '\0';
        s.token_expires_at = 0;
    }
}

}  // namespace

Size session_registry_shmem_size(void) {
    return MAXALIGN(add_size(slots_size(MaxBackends), mul_size(MaxBackends, sizeof(LoginEntry))));
}

void session_registry_shmem_request(void) {
    RequestAddinShmemSpace(session_registry_shmem_size());
    RequestNamedLWLockTranche(kTranche, 1);
}

void session_registry_shmem_startup(void) {
    bool found = false;
    registry = static_cast<Registry *>(
        ShmemInitStruct("dbx_oauth session registry", session_registry_shmem_size(), &found));
    if (!found) {
        memset(registry, 0, session_registry_shmem_size());
        registry->lock = &(GetNamedLWLockTranche(kTranche))->lock;
        registry->slot_count = MaxBackends;
        registry->logins = reinterpret_cast<LoginEntry *>(reinterpret_cast<char *>(registry) +
                                                          slots_size(MaxBackends));
    }
}

int session_registry_slot_count(void) {
    return registry ? registry->slot_count : 0;
}

void session_registry_set_login(const char *identity, const char *identity_type,
                                const char *role_name, const char *fingerprint,
                                TimestampTz expires_at) {
    if (own_slot() == nullptr)
        return;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    Slot *slot = claim_own_slot();
    slot->s.login_oauth = true;
    strlcpy(slot->s.login_identity, identity, sizeof slot->s.login_identity);
    strlcpy(slot->s.login_identity_type, identity_type, sizeof slot->s.login_identity_type);
    strlcpy(slot->login_role, role_name, sizeof slot->login_role);
    strlcpy(slot->login_fingerprint, fingerprint, sizeof slot->login_fingerprint);
    slot->s.login_expires_at = expires_at;
    publish_effective(slot);
    LoginEntry *login = &registry->logins[MyBackendId - 1];
    login->pid = MyProcPid;
    login->expires_at = expires_at;
    login->status = MyBEEntry;
    login->proc = MyProc;
    LWLockRelease(registry->lock);
}

void session_registry_set_login_token(bool has_iat, int64 issued_at, const char *token_key) {
    if (own_slot() == nullptr)
        return;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    Slot *slot = claim_own_slot();
    slot->s.login_has_iat = has_iat;
    slot->s.login_iat = issued_at;
    strlcpy(slot->s.login_token_key, token_key ? token_key : "", sizeof slot->s.login_token_key);
    LWLockRelease(registry->lock);
}

void session_registry_set_switch(const char *identity, const char *identity_type,
                                 const char *role_name, const char *fingerprint,
                                 TimestampTz expires_at) {
    if (own_slot() == nullptr)
        return;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    Slot *slot = claim_own_slot();
    slot->switch_active = true;
    strlcpy(slot->switch_identity, identity, sizeof slot->switch_identity);
    strlcpy(slot->switch_type, identity_type, sizeof slot->switch_type);
    strlcpy(slot->switch_role, role_name, sizeof slot->switch_role);
    strlcpy(slot->switch_fingerprint, fingerprint, sizeof slot->switch_fingerprint);
    slot->switch_expires_at = expires_at;
    publish_effective(slot);
    LWLockRelease(registry->lock);
}

void session_registry_clear_switch(void) {
    Slot *slot = own_slot();
    if (slot == nullptr || !slot->in_use || !slot->switch_active)
        return;
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    slot->switch_active = false;
    publish_effective(slot);
    LWLockRelease(registry->lock);
}

bool session_registry_read(BackendId backend_id, SessionSnapshot *out) {
    if (registry == nullptr || backend_id < 1 || backend_id > registry->slot_count)
        return false;
    const Slot *slot = &registry->slots[backend_id - 1];
    LWLockAcquire(registry->lock, LW_SHARED);
    bool present = slot->in_use && slot->s.method != SESSION_AUTH_NONE;
    if (present || (slot->in_use && slot->s.login_oauth))
        *out = slot->s;
    present = present || (slot->in_use && slot->s.login_oauth);
    LWLockRelease(registry->lock);
    return present;
}

/*
 * Reads the backend's state from its own status entry, as
 * pgstat_read_current_status() does for every entry.  False when the entry
 * is not (or no longer) that pid's: still authenticating, or gone.
 */
static bool read_login_activity(const LoginEntry &login, BackendId backend_id, LoginActivity *out) {
    volatile PgBackendStatus *be = login.status;
    if (be == nullptr || login.proc == nullptr)
        return false;
    BackendType type;
    for (;;) {
        int before, after;
        pgstat_begin_read_activity(be, before);
        type = be->st_backendType;
        out->pid = be->st_procpid;
        out->state = be->st_state;
        out->state_since = be->st_state_start_timestamp;
        out->started = be->st_proc_start_timestamp;
        pgstat_end_read_activity(be, after);
        if (pgstat_read_activity_complete(before, after))
            break;
        /* the backend is between the two increments of a short critical section */
        pg_spin_delay();
    }
    if (out->pid != login.pid || type != B_BACKEND)
        return false; /* a walsender is not a client session, as in pg_stat_activity's view */
    out->backend_id = backend_id;
    out->token_expires_at = login.expires_at;
    TransactionId xid = login.proc->xid; /* one aligned word, as GetSnapshotData reads it */
    out->has_xid = TransactionIdIsValid(xid);
    return true;
}

int session_registry_scan_logins(LoginActivity *out) {
    if (registry == nullptr)
        return 0;
    int count = 0;
    LWLockAcquire(registry->lock, LW_SHARED);
    const LoginEntry *logins = registry->logins;
    for (int i = 0; i < registry->slot_count; i++)
        if (logins[i].pid != 0 && read_login_activity(logins[i], i + 1, &out[count]))
            count++;
    LWLockRelease(registry->lock);
    return count;
}

bool session_registry_mark_evicted(BackendId backend_id, int pid, EvictReason reason, char *identity) {
    if (registry == nullptr || backend_id < 1 || backend_id > registry->slot_count)
        return false;
    Slot *slot = &registry->slots[backend_id - 1];
    LWLockAcquire(registry->lock, LW_EXCLUSIVE);
    bool ok = slot->in_use && slot->s.pid == pid;
    if (ok) {
        slot->s.evict_reason = reason;
        strlcpy(identity, slot->s.login_identity, SESSION_IDENTITY_MAX);
    }
    LWLockRelease(registry->lock);
    return ok;
}

EvictReason session_registry_own_evict_reason(void) {
    Slot *slot = own_slot();
    if (slot == nullptr || !slot->in_use || slot->s.pid != MyProcPid)
        return EVICT_NONE;
    return static_cast<EvictReason>(slot->s.evict_reason);
}
