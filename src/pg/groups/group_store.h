/*
 * group_store.h — Databricks group membership in shared memory, published
 * by the identity-sync worker, read by the login hook and set_token, plus
 * the worker's status (service-principal token and per-group sync state).
 *
 * The worker publishes a complete snapshot (every GROUP role it knows) at
 * once under the exclusive lock; readers take the shared lock.  Members are
 * identities folded to ASCII lower case, sorted, in one string pool.
 *
 * Limits (docs/identity-sync.md, "Limits"): GROUP_STORE_MAX_GROUPS
 * groups, GROUP_STORE_MAX_MEMBERS members per group, GROUP_STORE_POOL_BYTES
 * of identity text in total.  A group beyond a limit is never truncated: it
 * is published as "overflow", every login as that group is refused, and
 * the reason is in identity_sync_status() / group_sync_status().
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "datatype/timestamp.h"
#include "storage/latch.h"
}

#include <string>
#include <utility>
#include <vector>

/* Databricks allows 10,000 users and 5,000 groups per workspace. */
#define GROUP_STORE_MAX_GROUPS 5000
#define GROUP_STORE_MAX_MEMBERS 10000
/* Member entries over all groups (one user in many groups counts each
 * time) and their identity text: 256k entries, 8 MB (about 11 MB of shared
 * memory in all, see docs/identity-sync.md, "Limits"). */
#define GROUP_STORE_MAX_ENTRIES (256 * 1024)
#define GROUP_STORE_POOL_BYTES (8 * 1024 * 1024)
#define GROUP_STORE_MAX_ERROR_LEN 256

/* Per-group sync state: plain data, copied into shared memory as is. */
struct GroupSyncInfo {
    char name[NAMEDATALEN];   /* the GROUP role's name = workspace group displayName */
    Oid roleid;
    bool synced;              /* membership published and authoritative */
    bool overflow;            /* too many members: logins as the group refused */
    bool found;               /* the group exists at the workspace (last success) */
    bool members_hidden;      /* the service principal may not see its members */
    int member_count;
    int unresolved;           /* members that could not be resolved (left out) */
    int inactive;             /* inactive users / service principals (left out) */
    TimestampTz last_attempt;
    TimestampTz last_success;
    int consecutive_failures;
    char last_error[GROUP_STORE_MAX_ERROR_LEN]; /* empty after a success */
};

/* One group of a snapshot: members folded, sorted, without duplicates. */
struct PublishedGroup {
    GroupSyncInfo info;
    std::vector<std::string> members;
};

/* The worker's overall state; never holds the token itself. */
struct IdentitySyncStatus {
    bool enabled;                 /* client_id and client_secret_file set */
    char mode[24];                /* disabled, primary, standby, publish_only */
    char client_id[128];
    char database[NAMEDATALEN];
    bool extension_installed;     /* in dbx_oauth.database */
    bool has_token;
    TimestampTz token_obtained_at;
    TimestampTz token_expires_at;
    TimestampTz next_token_refresh;
    int token_failures;           /* consecutive */
    char token_error[GROUP_STORE_MAX_ERROR_LEN];
    TimestampTz last_round;
    TimestampTz next_round;
    int groups_ignored;           /* GROUP roles beyond GROUP_STORE_MAX_GROUPS */
    char last_error[GROUP_STORE_MAX_ERROR_LEN]; /* catalog / configuration problems */
    TimestampTz reconcile_at;
    char reconcile_error[GROUP_STORE_MAX_ERROR_LEN];
    int64 grants;                 /* GRANTs made since the worker started */
    int64 revokes;
    int round_requests;           /* SCIM requests of the last round */
    int round_throttled;          /* HTTP 429 answers waited out in it */
};

Size group_store_shmem_size(void);
void group_store_shmem_request(void);
void group_store_shmem_startup(void);

/*
 * Replaces the whole snapshot.  Groups that do not fit (more than
 * GROUP_STORE_MAX_MEMBERS members, or the pool is full) are published with
 * overflow set and no members; their names are returned.  At most
 * GROUP_STORE_MAX_GROUPS groups are taken (the caller bounds the list).
 */
std::vector<std::string> group_store_publish(const std::vector<PublishedGroup> &groups);

/* Drops every group (sync disabled: the catalog fallback applies again). */
void group_store_clear(void);

/*
 * Is folded_identity a member of the group role?  1 yes, 0 no (also for an
 * overflowing group), -1 the group has never been synced (caller falls back
 * to the catalog), GROUP_STORE_STALE the membership is older than
 * dbx_oauth.group_membership_max_age (logins fail closed).  Plain C, takes
 * the shared lock; safe during login.
 */
#define GROUP_STORE_STALE (-2)
int group_store_lookup(Oid group_roleid, const char *folded_identity);

/* The published membership of a synced group is older than
 * dbx_oauth.group_membership_max_age (never when that is 0). */
bool group_store_is_stale(const GroupSyncInfo *info, TimestampTz now);

/* Copies for SQL and the worker. */
std::vector<GroupSyncInfo> group_store_copy_groups(void);
std::vector<std::pair<std::string, std::string>> group_store_copy_members(void); /* (group, identity) */
std::vector<PublishedGroup> group_store_copy_snapshot(void);

/*
 * The members of a synced, non-overflowing group as a palloc'd array of
 * palloc'd strings in the current memory context; returns the count, or
 * -1 when the group is not synced or overflows.  For plain-C callers.
 */
int group_store_members_palloc(Oid group_roleid, char ***members_out);

void group_store_put_status(const IdentitySyncStatus *status);
IdentitySyncStatus group_store_get_status(void);

/* The worker announces itself; backends ask it for an immediate sync. */
void group_store_worker_attach(Latch *latch, int pid);
void group_store_worker_detach(void);
int group_store_worker_pid(void);
/* Returns false when no worker is running. */
bool group_store_request_sync(void);
/* Asks for a sync when the current transaction commits (a new GROUP role
 * is visible to the worker only then); nothing on abort. */
void group_sync_request_at_commit(void);
/* Worker side: true when a sync was requested since the last call. */
bool group_store_take_sync_request(void);
