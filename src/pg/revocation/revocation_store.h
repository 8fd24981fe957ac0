/*
 * revocation_store.h — the shared-memory copy of dbx_oauth.revocation_entries
 * (see revocation.h), private to src/pg/revocation.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#define REVOCATION_KEY_MAX 257 /* identities up to 256 bytes; token keys up to 200 */

enum RevocationOpKind { REV_OP_CUTOFF, REV_OP_BLOCK, REV_OP_UNBLOCK, REV_OP_TOKEN };

/* One change, as plain data (kept across ereport, applied at commit). */
struct RevocationOp {
    RevocationOpKind kind;
    uint8 sources;  /* block/unblock: core::RevocationSource bits */
    int64 value;    /* cutoff: microseconds since 1970; token: expiry, unix seconds */
    char key[REVOCATION_KEY_MAX];
};

struct RevocationMirrorStatus {
    bool loaded;
    bool overflowed;
    uint32 entries;
    uint32 capacity;
    int64 revision;
};

/* Applies changes under the lock and counts them; never raises. */
void revocation_store_apply(const RevocationOp *ops, int count);

/* Whether a new entry still fits (checked before a revocation is written). */
bool revocation_store_has_room(void);

/* Changes applied so far (the loader replaces the copy only if none came in between). */
uint64 revocation_store_change_count(void);

/*
 * Replaces the whole copy with ops read from the table at revision; false
 * (nothing replaced) when a commit applied changes since expected_changes.
 */
bool revocation_store_replace(const RevocationOp *ops, int count, int64 revision, uint64 expected_changes);

/* Marks the copy loaded at revision without changing it (no table in this database). */
void revocation_store_mark_loaded(int64 revision);

/* Forgets token entries that expired before now (unix seconds). */
void revocation_store_purge(int64 now);

RevocationMirrorStatus revocation_store_status(void);

/* Wakes the session monitor so it ends revoked sessions at once. */
void revocation_store_wake_monitor(void);
