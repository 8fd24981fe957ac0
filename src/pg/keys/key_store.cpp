/*
 * key_store.cpp — shared-memory JWKS slots, worker status and refresh
 * tickets, guarded by one LWLock.
 *
 * Writers (the worker) take the lock exclusively; readers copy under the
 * shared lock.  The version counter and the ticket counters are atomics, so
 * the hot path (a login with keys already parsed) only reads a counter, and
 * a backend waiting for a refresh polls counters without the lock.
 */
#include "pg/keys/key_store.h"
#include "pg/keys/shared_token_cache.h"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

#include <cstring>

namespace {

struct KeySlot {
    char issuer[KEY_STORE_MAX_ISSUER_LEN];
    KeySource source;
    TimestampTz fetched_at;
    int key_count;
    size_t json_len;
    char json[KEY_STORE_MAX_JWKS_BYTES];
};

constexpr int kSlotCount = KEY_STORE_MAX_ISSUERS + 1; /* +1: the jwks_file slot */

struct KeyStoreShared {
    LWLock *lock;
    pg_atomic_uint64 version;
    /* Refresh handshake (see key_store.h). */
    pg_atomic_uint64 requests;  /* last ticket handed out */
    pg_atomic_uint64 completed; /* every ticket <= this is handled */
    pg_atomic_uint32 forced;    /* a refresh_keys() ticket is pending */
    /* Worker identity, under lock. */
    Latch *worker_latch;
    int worker_pid;
    KeyStoreStatus status[kSlotCount];
    KeySlot slots[kSlotCount];
};

KeyStoreShared *store = nullptr;

constexpr const char *kTranche = "dbx_oauth_key_store";
/* How often a waiting backend re-checks the counters. */
constexpr long kPollMs = 10;

}  // namespace

const char *key_source_name(KeySource source) {
    switch (source) {
    case KEY_SOURCE_DISCOVERY:
        return "discovery";
    case KEY_SOURCE_JWKS_FILE:
        return "jwks_file";
    case KEY_SOURCE_PERSISTED:
        return "persisted";
    case KEY_SOURCE_NONE:
        break;
    }
    return "none";
}

Size key_store_shmem_size(void) {
    return MAXALIGN(sizeof(KeyStoreShared));
}

void key_store_shmem_request(void) {
    RequestAddinShmemSpace(key_store_shmem_size());
    RequestNamedLWLockTranche(kTranche, 1);
    /* validation results depend on these keys: their cache lives and dies with them */
    shared_token_cache_shmem_request();
}

void key_store_shmem_startup(void) {
    bool found = false;
    store = static_cast<KeyStoreShared *>(
        ShmemInitStruct("dbx_oauth key store", key_store_shmem_size(), &found));
    if (!found) {
        memset(store, 0, sizeof(*store));
        store->lock = &(GetNamedLWLockTranche(kTranche))->lock;
        pg_atomic_init_u64(&store->version, 1);
        pg_atomic_init_u64(&store->requests, 0);
        pg_atomic_init_u64(&store->completed, 0);
        pg_atomic_init_u32(&store->forced, 0);
    }
    shared_token_cache_shmem_startup();
}

uint64 key_store_version(void) {
    return store ? pg_atomic_read_u64(&store->version) : 0;
}

static KeySlot *find_slot(const char *issuer) {
    for (int i = 0; i < kSlotCount; i++) {
        if (store->slots[i].issuer[0] != '\0' && strcmp(store->slots[i].issuer, issuer) == 0)
            return &store->slots[i];
    }
    return nullptr;
}

static KeySlot *free_slot(void) {
    for (int i = 0; i < kSlotCount; i++) {
        if (store->slots[i].issuer[0] == '\0')
            return &store->slots[i];
    }
    return nullptr;
}

bool key_store_publish(const char *issuer, KeySource source, const char *json, size_t len,
                       int key_count) {
    return key_store_publish_at(issuer, source, json, len, key_count, GetCurrentTimestamp());
}

bool key_store_publish_at(const char *issuer, KeySource source, const char *json, size_t len,
                          int key_count, TimestampTz fetched_at) {
    if (store == nullptr || strlen(issuer) >= KEY_STORE_MAX_ISSUER_LEN)
        return false;
    if (json != nullptr && len > KEY_STORE_MAX_JWKS_BYTES)
        return false;

    bool ok = true;
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    KeySlot *slot = find_slot(issuer);
    if (json == nullptr) {
        if (slot != nullptr) {
            memset(slot, 0, offsetof(KeySlot, json));
            pg_atomic_fetch_add_u64(&store->version, 1);
        }
    } else {
        if (slot == nullptr) {
            slot = free_slot();
            if (slot != nullptr)
                strlcpy(slot->issuer, issuer, sizeof slot->issuer);
        }
        if (slot == nullptr) {
            ok = false;
        } else {
            bool changed = slot->json_len != len || slot->source != source ||
                           memcmp(slot->json, json, len) != 0;
            memcpy(slot->json, json, len);
            slot->json_len = len;
            slot->source = source;
            slot->key_count = key_count;
            slot->fetched_at = fetched_at;
            if (changed)
                pg_atomic_fetch_add_u64(&store->version, 1);
        }
    }
    LWLockRelease(store->lock);
    return ok;
}

std::vector<IssuerKeys> key_store_copy(uint64 *version_out) {
    std::vector<IssuerKeys> out;
    if (store == nullptr) {
        *version_out = 0;
        return out;
    }
    out.reserve(kSlotCount);
    LWLockAcquire(store->lock, LW_SHARED);
    *version_out = pg_atomic_read_u64(&store->version);
    for (int i = 0; i < kSlotCount; i++) {
        const KeySlot &slot = store->slots[i];
        if (slot.issuer[0] == '\0')
            continue;
        IssuerKeys keys;
        keys.issuer = slot.issuer;
        keys.source = slot.source;
        keys.jwks_json.assign(slot.json, slot.json_len);
        keys.fetched_at = slot.fetched_at;
        keys.key_count = slot.key_count;
        out.push_back(std::move(keys));
    }
    LWLockRelease(store->lock);
    return out;
}

/* ---- worker status ---------------------------------------------------- */

void key_store_put_status(const KeyStoreStatus *status) {
    if (store == nullptr || status->issuer[0] == '\0')
        return;
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    KeyStoreStatus *row = nullptr;
    for (int i = 0; i < kSlotCount && row == nullptr; i++) {
        if (strcmp(store->status[i].issuer, status->issuer) == 0)
            row = &store->status[i];
    }
    for (int i = 0; i < kSlotCount && row == nullptr; i++) {
        if (store->status[i].issuer[0] == '\0')
            row = &store->status[i];
    }
    if (row != nullptr) {
        *row = *status;
        row->issuer[sizeof row->issuer - 1] = '\0';
        row->last_error[sizeof row->last_error - 1] = '\0';
    }
    LWLockRelease(store->lock);
}

std::vector<KeyStoreStatus> key_store_copy_status(void) {
    std::vector<KeyStoreStatus> out;
    if (store == nullptr)
        return out;
    out.reserve(kSlotCount); /* no allocation while the lock is held */
    LWLockAcquire(store->lock, LW_SHARED);
    for (int i = 0; i < kSlotCount; i++) {
        if (store->status[i].issuer[0] != '\0')
            out.push_back(store->status[i]);
    }
    LWLockRelease(store->lock);
    return out;
}

static bool listed(const std::vector<std::string> &issuers, const char *issuer) {
    if (strcmp(issuer, KEY_STORE_FILE_SLOT) == 0)
        return true;
    for (const std::string &i : issuers) {
        if (i == issuer)
            return true;
    }
    return false;
}

void key_store_retain_issuers(const std::vector<std::string> &issuers) {
    if (store == nullptr)
        return;
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    for (int i = 0; i < kSlotCount; i++) {
        KeySlot &slot = store->slots[i];
        if (slot.issuer[0] != '\0' && !listed(issuers, slot.issuer)) {
            memset(&slot, 0, offsetof(KeySlot, json));
            pg_atomic_fetch_add_u64(&store->version, 1);
        }
        KeyStoreStatus &row = store->status[i];
        if (row.issuer[0] != '\0' && !listed(issuers, row.issuer))
            memset(&row, 0, sizeof row);
    }
    LWLockRelease(store->lock);
}

/* ---- worker identity and refresh tickets ------------------------------ */

void key_store_worker_attach(Latch *latch, int pid) {
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    store->worker_latch = latch;
    store->worker_pid = pid;
    LWLockRelease(store->lock);
}

void key_store_worker_detach(void) {
    if (store == nullptr)
        return;
    LWLockAcquire(store->lock, LW_EXCLUSIVE);
    store->worker_latch = nullptr;
    store->worker_pid = 0;
    LWLockRelease(store->lock);
}

int key_store_worker_pid(void) {
    if (store == nullptr)
        return 0;
    LWLockAcquire(store->lock, LW_SHARED);
    int pid = store->worker_pid;
    LWLockRelease(store->lock);
    return pid;
}

bool key_store_take_requests(uint64 *upto, bool *forced) {
    /* Read the ticket first: a forced flag set after this read belongs to
     * a ticket above *upto, which the next round handles. */
    *upto = pg_atomic_read_u64(&store->requests);
    *forced = pg_atomic_exchange_u32(&store->forced, 0) != 0;
    return *upto > pg_atomic_read_u64(&store->completed) || *forced;
}

void key_store_complete_requests(uint64 upto) {
    uint64 current = pg_atomic_read_u64(&store->completed);
    while (current < upto && !pg_atomic_compare_exchange_u64(&store->completed, &current, upto)) {
    }
}

/* Takes a ticket and wakes the worker; false when no worker is running. */
static bool request_ticket(bool forced, uint64 *ticket) {
    LWLockAcquire(store->lock, LW_SHARED);
    Latch *latch = store->worker_latch;
    LWLockRelease(store->lock);
    if (latch == nullptr)
        return false;
    if (forced)
        pg_atomic_write_u32(&store->forced, 1);
    *ticket = pg_atomic_add_fetch_u64(&store->requests, 1);
    /* The latch lives in the worker's PGPROC, valid even if it just exited. */
    SetLatch(latch);
    return true;
}

/* Sleeps one poll interval (or less), dying with the postmaster. */
static void poll_sleep(long remaining_ms) {
    (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
                     Min(remaining_ms, kPollMs), PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
}

static long remaining_ms(TimestampTz deadline) {
    return (long) ((deadline - GetCurrentTimestamp()) / 1000);
}

bool key_store_request_refresh_and_wait(int timeout_ms) {
    if (store == nullptr || timeout_ms <= 0)
        return false;
    uint64 before = key_store_version();
    uint64 ticket = 0;
    if (!request_ticket(false, &ticket))
        return false;
    TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
    for (;;) {
        if (key_store_version() != before || pg_atomic_read_u64(&store->completed) >= ticket)
            break;
        long left = remaining_ms(deadline);
        if (left <= 0 || InterruptPending)
            break;
        poll_sleep(left);
    }
    return key_store_version() != before;
}

KeyRefreshOutcome key_store_refresh_and_wait(int timeout_ms, bool *changed) {
    *changed = false;
    if (store == nullptr)
        return KEY_REFRESH_NO_WORKER;
    uint64 before = key_store_version();
    uint64 ticket = 0;
    if (!request_ticket(true, &ticket))
        return KEY_REFRESH_NO_WORKER;
    TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
    KeyRefreshOutcome outcome = KEY_REFRESH_DONE;
    while (pg_atomic_read_u64(&store->completed) < ticket) {
        CHECK_FOR_INTERRUPTS();
        long left = remaining_ms(deadline);
        if (left <= 0) {
            outcome = KEY_REFRESH_TIMEOUT;
            break;
        }
        poll_sleep(left);
    }
    *changed = key_store_version() != before;
    return outcome;
}
