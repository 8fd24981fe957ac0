/*
 * key_store.h — the shared-memory store of signing keys (JWKS documents),
 * the key-refresh worker's status, and the handshake between backends and
 * the worker.
 *
 * One key slot per configured issuer (keys fetched by the worker through
 * discovery, or loaded from the persisted copy) plus one slot for the static
 * dbx_oauth.jwks_file, whose keys are trusted for every configured issuer.
 * Slots hold the JWKS JSON text; backends parse it into backend-local keys
 * only when the store's version changes, so the login path takes the lock
 * only to compare a counter.
 *
 * Refresh requests are tickets: a backend takes the next ticket, sets the
 * worker's latch, and waits until the worker reports that every ticket up
 * to its own has been handled (or the keys changed, or its time is up).
 * The worker alone decides whether a request causes network traffic, which
 * is how unknown-kid refreshes are rate-limited.
 *
 * Limits (documented in docs/operator-guide.md): KEY_STORE_MAX_ISSUERS
 * issuers, KEY_STORE_MAX_JWKS_BYTES of (compact) JSON per slot,
 * KEY_STORE_MAX_ERROR_LEN bytes of error text per issuer.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
#include "storage/latch.h"
}

#include <string>
#include <vector>

#define KEY_STORE_MAX_ISSUERS 8
#define KEY_STORE_MAX_ISSUER_LEN 512
#define KEY_STORE_MAX_JWKS_BYTES (64 * 1024)
#define KEY_STORE_MAX_ERROR_LEN 512
/* Issuer name of the slot that holds dbx_oauth.jwks_file keys. */
#define KEY_STORE_FILE_SLOT "*"

enum KeySource { KEY_SOURCE_NONE = 0, KEY_SOURCE_DISCOVERY, KEY_SOURCE_JWKS_FILE, KEY_SOURCE_PERSISTED };

const char *key_source_name(KeySource source);

Size key_store_shmem_size(void);
void key_store_shmem_request(void);
void key_store_shmem_startup(void);

/* Changes whenever any slot's keys change; cheap (atomic read). */
uint64 key_store_version(void);

/*
 * Replaces the keys of one issuer (KEY_STORE_FILE_SLOT for jwks_file), or
 * removes the slot when json is NULL.  Returns false when the document is
 * too large or no slot is free.  Bumps the version only when the text changed.
 * fetched_at is "now"; key_store_publish_at takes it explicitly (persisted
 * keys keep the time they were fetched from the issuer).
 */
bool key_store_publish(const char *issuer, KeySource source, const char *json, size_t len,
                       int key_count);
bool key_store_publish_at(const char *issuer, KeySource source, const char *json, size_t len,
                          int key_count, TimestampTz fetched_at);

/* A copy of one slot, taken under the shared lock. */
struct IssuerKeys {
    std::string issuer;
    KeySource source = KEY_SOURCE_NONE;
    std::string jwks_json;
    TimestampTz fetched_at = 0;
    int key_count = 0;
};

/* Copies every slot; *version_out is the version the copy corresponds to. */
std::vector<IssuerKeys> key_store_copy(uint64 *version_out);

/*
 * The worker's view of one issuer (or of jwks_file, issuer
 * KEY_STORE_FILE_SLOT).  Plain data: it is copied into shared memory as is.
 * Timestamps are 0 for "never".
 */
struct KeyStoreStatus {
    char issuer[KEY_STORE_MAX_ISSUER_LEN];
    TimestampTz last_attempt;
    TimestampTz last_success;
    TimestampTz next_refresh;
    int consecutive_failures;
    char last_error[KEY_STORE_MAX_ERROR_LEN]; /* empty after a success */
    /*
     * The issuer's clock minus ours (seconds, positive = ours behind) from
     * the Date header of the last 200 response (core::clock_offset_seconds:
     * |offset| <= 1 s is 0).  clock_measured is false until a fetch got a
     * 200 response, and when the last such response had no usable Date.
     */
    bool clock_measured;
    int64 clock_offset_s;
};

/* Inserts or replaces the status row of status->issuer. */
void key_store_put_status(const KeyStoreStatus *status);

/* Copies every status row. */
std::vector<KeyStoreStatus> key_store_copy_status(void);

/*
 * Drops the keys and status of every issuer not in `issuers` (the file
 * slot is never dropped here).  Used by the worker after a reload.
 */
void key_store_retain_issuers(const std::vector<std::string> &issuers);

/* The worker announces itself (latch to set) and leaves. */
void key_store_worker_attach(Latch *latch, int pid);
void key_store_worker_detach(void);

/* The worker's pid, 0 when it is not running. */
int key_store_worker_pid(void);

/*
 * Worker side of the request handshake.  Returns true when tickets above
 * the completed mark are waiting; *upto is the newest ticket and *forced
 * tells whether one came from refresh_keys() (which is not rate-limited).
 */
bool key_store_take_requests(uint64 *upto, bool *forced);
/* Marks every ticket <= upto handled. */
void key_store_complete_requests(uint64 upto);

/*
 * Asks the worker for an immediate refresh (an unknown kid was seen) and
 * waits up to timeout_ms for the key-store version to change.  Rate-limited
 * in the worker, so a flood of random kids cannot hammer the issuer.
 * Returns true when the keys changed.  Safe during authentication: it never
 * ereports and never processes interrupts (a pending interrupt just ends
 * the wait early, to be handled by the caller's next CHECK_FOR_INTERRUPTS).
 */
bool key_store_request_refresh_and_wait(int timeout_ms);

enum KeyRefreshOutcome { KEY_REFRESH_DONE, KEY_REFRESH_TIMEOUT, KEY_REFRESH_NO_WORKER };

/*
 * refresh_keys(): a forced refresh of every issuer, waiting up to
 * timeout_ms for the worker to finish it.  *changed tells whether the
 * keys changed meanwhile.  Processes interrupts (query cancel), so call it
 * only from plain C code, never with C++ objects on the stack.
 */
KeyRefreshOutcome key_store_refresh_and_wait(int timeout_ms, bool *changed);
