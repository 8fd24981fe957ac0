/*
 * revocation.h — taking tokens back before they expire (docs/security-model.md,
 * "Revocation").
 *
 * Revocations live in the table dbx_oauth.revocation_entries (durable, so
 * they survive restarts and replicate to standbys) and are mirrored in
 * shared memory, so the check a login or a statement makes is one hash
 * lookup under a shared LWLock.  A revoking transaction changes the mirror
 * when it commits (never before, never when it aborts); the revocation
 * worker reloads the mirror from the table at startup and whenever the
 * table's revision changes (on a hot standby: when replay changed it).
 */
#pragma once

extern "C" {
#include "postgres.h"
}

/* The verdict of one check; the reason is a log word ("revoked", ...). */
enum RevocationVerdict {
    REVOCATION_OK = 0,
    REVOCATION_REVOKED,     /* identity cutoff, identity block or token entry */
    REVOCATION_UNAVAILABLE, /* mirror not loaded yet, or over capacity: fail closed */
};

/* Longest token key kept per session ("jti:<jti>" or "sha256:<64 hex>"). */
#define REVOCATION_TOKEN_KEY_MAX 200

/*
 * The one check every door makes (password door, PostgreSQL 18 validator,
 * set_token, live sessions).  issued_at is unix seconds, ignored unless
 * has_iat; token_key may be NULL or "".  *detail (may be NULL) gets a short
 * static text for the log.  Never raises, never allocates.
 */
RevocationVerdict revocation_check(const char *identity, bool has_iat, int64 issued_at,
                                   const char *token_key, const char **detail);

/* True once the worker loaded the table (the session monitor never waits). */
bool revocation_ready(void);

/*
 * Internal entry points (identity sync worker): block or unblock an
 * identity with the given source ('group_sync').  Call inside a transaction
 * with SPI connected; the change reaches shared memory when the transaction
 * commits.  Return true when something changed.  Unblocking with a source
 * removes only blocks of that source: an administrator's block stays.
 * Raise (ereport ERROR) on failure, like any SPI caller.
 */
extern "C" bool dbx_oauth_revocation_block(const char *identity, const char *reason, const char *source);
extern "C" bool dbx_oauth_revocation_unblock(const char *identity, const char *source);

/* Shared memory (module.cpp). */
void revocation_shmem_request(void);
void revocation_shmem_startup(void);

/* The revocation worker and the per-statement guard of set_token switches. */
void revocation_worker_register(void);
void revocation_guard_install(void);
/* Transaction callbacks that apply pending changes at commit. */
void revocation_xact_init(void);

/* Lets a revocation wake the session monitor (set by that worker). */
void revocation_set_monitor_latch(void);
