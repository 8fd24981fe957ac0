/*
 * revocation_store.cpp — the revocation mirror in shared memory: a
 * core::RevocationSet laid out after a small header, guarded by one LWLock.
 *
 * Logins and statements take the lock shared for one hash lookup; commits
 * and the loader take it exclusive.  Nothing here raises: the core set may
 * throw std::bad_alloc while hashing a key, which is caught and treated as
 * "no answer" (fail closed for checks, overflow for changes).
 */
#include "core/revocation_set.h"

#include "pg/revocation/revocation.h"
#include "pg/revocation/revocation_store.h"
#include "pg/common/guc.h"

extern "C" {
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
}

#include <optional>

using dbx_oauth::core::RevocationMatch;
using dbx_oauth::core::RevocationSet;

namespace {

struct StoreHeader {
    LWLock *lock;
    bool loaded;           /* false until the worker's first load: fail closed */
    int64 revision;        /* table revision of the last load */
    uint64 changes;        /* commits applied (under lock) */
    Latch *monitor_latch;  /* session monitor, woken by commits */
};

StoreHeader *store = nullptr;
void *set_memory = nullptr;
constexpr const char *kTranche = "dbx_oauth_revocations";
constexpr int kLoadWaitMs = 2000;

Size set_bytes() {
    return RevocationSet::bytes_for(static_cast<uint32_t>(dbx_oauth_max_revocations));
}

Size store_size() {
    return add_size(MAXALIGN(sizeof(StoreHeader)), set_bytes());
}

/* Applies one op; false when the set had no room or hashing failed. */
bool apply_one(RevocationSet &set, const RevocationOp &op) noexcept {
    try {
        switch (op.kind) {
        case REV_OP_CUTOFF:
            return set.add_cutoff(op.key, op.value);
        case REV_OP_BLOCK:
            return set.add_block(op.key, op.sources);
        case REV_OP_UNBLOCK:
            (void) set.remove_block(op.key, op.sources);
            return true;
        case REV_OP_TOKEN:
            return set.add_token(op.key, op.value);
        }
    } catch (...) {
    }
    return false;
}

}  // namespace

void revocation_shmem_request(void) {
    RequestAddinShmemSpace(store_size());
    RequestNamedLWLockTranche(kTranche, 1);
}

void revocation_shmem_startup(void) {
    bool found = false;
    store = static_cast<StoreHeader *>(ShmemInitStruct("dbx_oauth revocations", store_size(), &found));
    set_memory = reinterpret_cast<char *>(store) + MAXALIGN(sizeof(StoreHeader));
    if (!found) {
        memset(store, 0, sizeof(StoreHeader));
        store->lock = &(GetNamedLWLockTranche(kTranche))->lock;
        RevocationSet::init(set_memory, static_cast<uint32_t>(dbx_oauth_max_revocations));
    }
}

bool revocation_ready(void) {
    return store != nullptr && store->loaded;
}

RevocationVerdict revocation_check(const char *identity, bool has_iat, int64 issued_at,
                                   const char *token_key, const char **detail) {
    const char *unused;
    if (detail == nullptr)
        detail = &unused;
    if (store == nullptr) {
        *detail = "revocations are not in shared memory";
        return REVOCATION_UNAVAILABLE;
    }
    /* Right after a start the worker is still reading the table: wait a little. */
    for (int waited = 0; !store->loaded && waited < kLoadWaitMs; waited += 10)
        pg_usleep(10000L);

    LWLockAcquire(store->lock, LW_SHARED);
    RevocationVerdict verdict = REVOCATION_OK;
    RevocationSet set(set_memory);
    if (!store->loaded) {
        *detail = "revocations not loaded yet";
        verdict = REVOCATION_UNAVAILABLE;
    } else if (set.overflowed()) {
        *detail = "more revocations than dbx_oauth.max_revocations";
        verdict = REVOCATION_UNAVAILABLE;
    } else {
        try {
            RevocationMatch m = set.check(identity ? identity : "",
                                          has_iat ? std::optional<int64_t>(issued_at) : std::nullopt,
                                          token_key ? token_key : "");
            if (m != RevocationMatch::none) {
                verdict = REVOCATION_REVOKED;
                *detail = dbx_oauth::core::revocation_match_name(m);
            }
        } catch (...) {
            *detail = "out of memory";
            verdict = REVOCATION_UNAVAILABLE;
        }
    }
    LWLockRelease(store->lock);
    return verdict;
}

void revocation_store_apply(const RevocationOp *ops, int count) {
    if (store == nullptr || count == 0)
        return;
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    RevocationSet set(set_memory);
    for (int i = 0; i < count; i++)
        (void) apply_one(set, ops[i]);
    store->changes++;
    LWLockRelease(store->lock);
    revocation_store_wake_monitor();
}

bool revocation_store_has_room(void) {
    if (store == nullptr)
        return false;
    LWLockAcquire(store->lock, LW_SHARED);
    RevocationSet set(set_memory);
    bool room = set.size() < set.capacity();
    LWLockRelease(store->lock);
    return room;
}

uint64 revocation_store_change_count(void) {
    LWLockAcquire(store->lock, LW_SHARED);
    uint64 changes = store->changes;
    LWLockRelease(store->lock);
    return changes;
}

bool revocation_store_replace(const RevocationOp *ops, int count, int64 revision, uint64 expected_changes) {
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    if (store->changes != expected_changes) {
        LWLockRelease(store->lock);
        return false;
    }
    RevocationSet set(set_memory);
    set.clear();
    for (int i = 0; i < count; i++)
        (void) apply_one(set, ops[i]);
    store->revision = revision;
    store->loaded = true;
    LWLockRelease(store->lock);
    revocation_store_wake_monitor();
    return true;
}

void revocation_store_mark_loaded(int64 revision) {
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    store->loaded = true;
    store->revision = revision;
    LWLockRelease(store->lock);
}

void revocation_store_purge(int64 now) {
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    (void) RevocationSet(set_memory).purge_tokens(now);
    LWLockRelease(store->lock);
}

RevocationMirrorStatus revocation_store_status(void) {
    RevocationMirrorStatus st = {};
    if (store == nullptr)
        return st;
    LWLockAcquire(store->lock, LW_SHARED);
    RevocationSet set(set_memory);
    st.loaded = store->loaded;
    st.overflowed = set.overflowed();
    st.entries = set.size();
    st.capacity = set.capacity();
    st.revision = store->revision;
    LWLockRelease(store->lock);
    return st;
}

void revocation_set_monitor_latch(void) {
    if (store == nullptr)
        return;
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    store->monitor_latch = MyLatch;
    LWLockRelease(store->lock);
}

void revocation_store_wake_monitor(void) {
    Latch *latch = store ? store->monitor_latch : nullptr;
    if (latch != nullptr)
        SetLatch(latch);
}
