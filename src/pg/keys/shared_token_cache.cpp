/*
 * shared_token_cache.cpp — the cross-backend cache of validated tokens
 * (shared_token_cache.h).
 *
 * Two-way set associative: a token digest may live in slot i or i ^ 1,
 * where i comes from its first bytes; a new entry replaces a slot of the
 * pair that is free, stale (other key version) or expired, else the older
 * one.  One LWLock: readers copy under the shared lock, writers take it
 * exclusively.  Nothing here allocates or ereports under the lock.
 */
#include "pg/keys/shared_token_cache.h"

extern "C" {
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

#include <cstring>

namespace {

struct Slot {
    bool used;
    unsigned char token_digest[SHARED_TOKEN_CACHE_DIGEST_LEN];
    unsigned char settings_digest[SHARED_TOKEN_CACHE_DIGEST_LEN];
    uint64 key_version;
    int64 expires_at;
    uint64 stamp; /* insertion order, for replacement */
    uint32 record_len;
    char record[SHARED_TOKEN_CACHE_RECORD_BYTES];
};

struct Shared {
    LWLock *lock;
    uint64 next_stamp;
    Slot slots[SHARED_TOKEN_CACHE_SLOTS];
};

Shared *cache = nullptr;

constexpr const char *kTranche = "dbx_oauth_token_cache";

static_assert((SHARED_TOKEN_CACHE_SLOTS & (SHARED_TOKEN_CACHE_SLOTS - 1)) == 0,
              "the slot count must be a power of two");

uint32 first_slot(const unsigned char *digest) {
    uint32 h = 0;
    memcpy(&h, digest, sizeof h);
    return h & (SHARED_TOKEN_CACHE_SLOTS - 1) & ~1u;
}

bool matches(const Slot &slot, const unsigned char *token_digest) {
    return slot.used && memcmp(slot.token_digest, token_digest, SHARED_TOKEN_CACHE_DIGEST_LEN) == 0;
}

}  // namespace

Size shared_token_cache_shmem_size(void) {
    return MAXALIGN(sizeof(Shared));
}

void shared_token_cache_shmem_request(void) {
    RequestAddinShmemSpace(shared_token_cache_shmem_size());
    RequestNamedLWLockTranche(kTranche, 1);
}

void shared_token_cache_shmem_startup(void) {
    bool found = false;
    cache = static_cast<Shared *>(
        ShmemInitStruct("dbx_oauth token cache", shared_token_cache_shmem_size(), &found));
    if (!found) {
        /* only the headers need zeroing: a slot's record is read only when used */
        cache->lock = &(GetNamedLWLockTranche(kTranche))->lock;
        cache->next_stamp = 1;
        for (Slot &slot : cache->slots)
            memset(&slot, 0, offsetof(Slot, record));
    }
}

bool shared_token_cache_find(const unsigned char *token_digest, const unsigned char *settings_digest,
                             uint64 key_version, int64 now_unix, std::string *record) {
    if (cache == nullptr)
        return false;
    record->reserve(SHARED_TOKEN_CACHE_RECORD_BYTES); /* no allocation under the lock */
    bool hit = false;
    uint32 first = first_slot(token_digest);
    LWLockAcquire(cache->lock, LW_SHARED);
    for (uint32 i = first; i <= first + 1 && !hit; i++) {
        const Slot &slot = cache->slots[i];
        if (!matches(slot, token_digest) || slot.key_version != key_version || now_unix >= slot.expires_at ||
            memcmp(slot.settings_digest, settings_digest, SHARED_TOKEN_CACHE_DIGEST_LEN) != 0)
            continue;
        record->assign(slot.record, slot.record_len);
        hit = true;
    }
    LWLockRelease(cache->lock);
    return hit;
}

void shared_token_cache_put(const unsigned char *token_digest, const unsigned char *settings_digest,
                            uint64 key_version, int64 expires_at, const std::string &record) {
    if (cache == nullptr || record.size() > SHARED_TOKEN_CACHE_RECORD_BYTES)
        return;
    uint32 first = first_slot(token_digest);
    LWLockAcquire(cache->lock, LW_EXCLUSIVE);
    Slot *target = nullptr;
    for (uint32 i = first; i <= first + 1 && target == nullptr; i++) {
        if (matches(cache->slots[i], token_digest))
            target = &cache->slots[i];
    }
    for (uint32 i = first; i <= first + 1 && target == nullptr; i++) {
        Slot &slot = cache->slots[i];
        if (!slot.used || slot.key_version != key_version)
            target = &slot;
    }
    if (target == nullptr) {
        Slot &a = cache->slots[first], &b = cache->slots[first + 1];
        target = a.stamp <= b.stamp ? &a : &b;
    }
    target->used = true;
    memcpy(target->token_digest, token_digest, SHARED_TOKEN_CACHE_DIGEST_LEN);
    memcpy(target->settings_digest, settings_digest, SHARED_TOKEN_CACHE_DIGEST_LEN);
    target->key_version = key_version;
    target->expires_at = expires_at;
    target->stamp = cache->next_stamp++;
    target->record_len = static_cast<uint32>(record.size());
    memcpy(target->record, record.data(), record.size());
    LWLockRelease(cache->lock);
}
