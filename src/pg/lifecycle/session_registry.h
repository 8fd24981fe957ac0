/*
 * session_registry.h — one shared-memory slot per backend describing its
 * OAuth identity: who logged in (or was switched to with set_token), how,
 * when the token expires.  Read by the sessions view, the worker's eviction
 * scan, and by parallel workers (which look up their leader's slot, so the
 * identity helpers stay PARALLEL SAFE).
 *
 * Indexed by BackendId (1..MaxBackends), sized in shmem_request_hook.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
#include "utils/backend_status.h" /* BackendState */
}

#include "pg/common/compat.h" /* BackendId */

#define SESSION_IDENTITY_MAX 256
#define SESSION_FINGERPRINT_LEN 17
#define SESSION_TOKEN_KEY_MAX 201 /* REVOCATION_TOKEN_KEY_MAX + 1 */

/* How the identity was established. */
enum SessionAuthMethod { SESSION_AUTH_NONE = 0, SESSION_AUTH_LOGIN = 1, SESSION_AUTH_SET_TOKEN = 2 };

/* Why a session was (or is being) evicted; index into stats too. */
enum EvictReason {
    EVICT_NONE = 0,
    EVICT_TOKEN_EXPIRED,
    EVICT_IDLE,
    EVICT_SESSION_AGE,
    EVICT_PRESSURE,
    EVICT_ON_DEMAND,
    EVICT_REVOKED,
    EVICT_REASON_COUNT
};

/* A plain copy of one slot (no pointers into shared memory). */
struct SessionSnapshot {
    int pid;
    BackendId backend_id;
    SessionAuthMethod method;           /* of the effective identity */
    char identity[SESSION_IDENTITY_MAX];
    char identity_type[24];             /* USER / SERVICE_PRINCIPAL / GROUP */
    char role_name[NAMEDATALEN];
    char fingerprint[SESSION_FINGERPRINT_LEN];
    TimestampTz login_time;
    TimestampTz token_expires_at;
    /* the login identity, kept while a set_token switch is in force */
    bool login_oauth;
    char login_identity[SESSION_IDENTITY_MAX];
    char login_identity_type[24];
    TimestampTz login_expires_at;
    /* what revocations are checked against (the login token) */
    bool login_has_iat;
    int64 login_iat;                    /* unix seconds */
    char login_token_key[SESSION_TOKEN_KEY_MAX];
    int evict_reason;                   /* EvictReason set before SIGTERM */
};

void session_registry_shmem_request(void);
void session_registry_shmem_startup(void);
Size session_registry_shmem_size(void);

/* Records this backend's login identity (called once by the auth hook). */
void session_registry_set_login(const char *identity, const char *identity_type,
                                const char *role_name, const char *fingerprint,
                                TimestampTz expires_at);

/* Records the login token's iat and revocation key (right after set_login). */
void session_registry_set_login_token(bool has_iat, int64 issued_at, const char *token_key);

/* Records / clears the set_token switch of this backend. */
void session_registry_set_switch(const char *identity, const char *identity_type,
                                 const char *role_name, const char *fingerprint,
                                 TimestampTz expires_at);
void session_registry_clear_switch(void);

/* Copies the slot of the given backend; false when it has no OAuth identity. */
bool session_registry_read(BackendId backend_id, SessionSnapshot *out);

/* Number of slots (MaxBackends); slot ids are 1..count. */
int session_registry_slot_count(void);

/*
 * What the eviction rules need of one OAuth login session: its registry
 * entry plus the live state PostgreSQL keeps for that backend (state, its
 * start, backend start, transaction id), read in place.
 */
struct LoginActivity {
    int pid;
    BackendId backend_id;
    BackendState state;
    TimestampTz state_since;
    TimestampTz started;
    TimestampTz token_expires_at; /* of the login token; 0: unknown */
    bool has_xid;
};

/*
 * One pass over the registry: every OAuth login session whose backend has
 * reported its status, in backend-id order, into out[] (room for
 * session_registry_slot_count() entries); returns how many.  No snapshot of
 * every backend's status is taken, and no slot is copied whole.
 */
int session_registry_scan_logins(LoginActivity *out);

/*
 * Marks why the worker is about to terminate that backend (pid must match)
 * and copies its login identity into identity (SESSION_IDENTITY_MAX bytes).
 */
bool session_registry_mark_evicted(BackendId backend_id, int pid, EvictReason reason, char *identity);

/* The reason recorded for this backend, EVICT_NONE when none. */
EvictReason session_registry_own_evict_reason(void);
