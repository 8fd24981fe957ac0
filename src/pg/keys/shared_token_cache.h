/*
 * shared_token_cache.h — successful validations shared by every backend.
 *
 * Every connection is a new backend, so its own token cache (validate.cpp)
 * is always empty at login, and a client that reconnects with the token it
 * used a moment ago would pay the whole validation again: JWKS import,
 * signature, both JSON documents.  This cache in shared memory keeps the
 * outcome of successful validations (never the token: the key is its
 * SHA-256) for every backend.  An entry is used only by a backend whose
 * validation settings have the same digest and only while the key store
 * still has the version the entry was validated with, so any change of keys
 * or settings makes every entry miss; expiry and nbf are checked again on
 * every hit by the caller, and revocation is checked after validation on
 * every login anyway (docs/architecture.md#keys-only-the-worker-touches-the-network).
 *
 * Fixed size: SHARED_TOKEN_CACHE_SLOTS entries of at most
 * SHARED_TOKEN_CACHE_RECORD_BYTES (a larger result is simply not shared).
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include <string>

#define SHARED_TOKEN_CACHE_SLOTS 128
#define SHARED_TOKEN_CACHE_RECORD_BYTES 8192
#define SHARED_TOKEN_CACHE_DIGEST_LEN 32

Size shared_token_cache_shmem_size(void);
void shared_token_cache_shmem_request(void);
void shared_token_cache_shmem_startup(void);

/*
 * Copies the record stored for token_digest into *record when its
 * settings digest and key version match and it has not expired (now >=
 * its exp).  Never ereports; record allocation happens before the lock.
 */
bool shared_token_cache_find(const unsigned char *token_digest, const unsigned char *settings_digest,
                             uint64 key_version, int64 now_unix, std::string *record);

/* Stores (or replaces) the record of token_digest; too large records are skipped. */
void shared_token_cache_put(const unsigned char *token_digest, const unsigned char *settings_digest,
                            uint64 key_version, int64 expires_at, const std::string &record);
