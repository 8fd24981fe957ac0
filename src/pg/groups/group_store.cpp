/*
 * group_store.cpp — shared-memory group membership and identity-sync
 * status (see group_store.h), guarded by one LWLock of its own tranche.
 *
 * Nothing allocates while the lock is held: publish lays the snapshot out
 * before it locks and only copies under the lock; copies for SQL reserve
 * their buffers first.  The login path (group_store_lookup) binary-searches
 * the sorted members in place.
 */
#include "pg/groups/group_store.h"
#include "pg/common/guc.h"

extern "C" {
#include "miscadmin.h"
#include "utils/timestamp.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "access/xact.h"
}

#include <algorithm>
#include <cstring>

namespace {

constexpr int kMaxMemberEntries = GROUP_STORE_MAX_ENTRIES;

struct GroupSlot {
    GroupSyncInfo info;
    uint32 first; /* index of the first member in offsets[] */
    uint32 count;
};

struct GroupStoreShared {
    LWLock *lock;
    pg_atomic_uint64 sync_requests; /* bumped by backends */
    uint64 sync_requests_seen;      /* worker's mark, under lock */
    Latch *worker_latch;
    int worker_pid;
    IdentitySyncStatus status;
    int ngroups;
    GroupSlot groups[GROUP_STORE_MAX_GROUPS];
    uint32 pool_used;
    uint32 offsets[kMaxMemberEntries]; /* into pool; NUL-terminated strings */
    char pool[GROUP_STORE_POOL_BYTES];
};

GroupStoreShared *gs = nullptr;

constexpr const char *kTranche = "dbx_oauth_group_store";

void terminate_copy(char *dst, size_t cap) {
    dst[cap - 1] = '\0';
}

}  // namespace

Size group_store_shmem_size(void) {
    return MAXALIGN(sizeof(GroupStoreShared));
}

void group_store_shmem_request(void) {
    RequestAddinShmemSpace(group_store_shmem_size());
    RequestNamedLWLockTranche(kTranche, 1);
}

void group_store_shmem_startup(void) {
    bool found = false;
    gs = static_cast<GroupStoreShared *>(
        ShmemInitStruct("dbx_oauth group store", group_store_shmem_size(), &found));
    if (!found) {
        /* Header only: the arrays are meaningful up to ngroups / pool_used. */
        memset(gs, 0, offsetof(GroupStoreShared, offsets));
        gs->lock = &(GetNamedLWLockTranche(kTranche))->lock;
        pg_atomic_init_u64(&gs->sync_requests, 0);
        strlcpy(gs->status.mode, "disabled", sizeof gs->status.mode);
    }
}

/* ---- publishing --------------------------------------------------------- */

std::vector<std::string> group_store_publish(const std::vector<PublishedGroup> &groups) {
    std::vector<std::string> overflowed;
    if (gs == nullptr)
        return overflowed;

    /* Lay out outside the lock: which groups fit, where their strings go. */
    struct Plan {
        GroupSlot slot;
        const std::vector<std::string> *members;
    };
    std::vector<Plan> plan;
    plan.reserve(std::min<size_t>(groups.size(), GROUP_STORE_MAX_GROUPS));
    uint32 entries = 0;
    size_t pool = 0;
    for (const PublishedGroup &g : groups) {
        if (plan.size() >= GROUP_STORE_MAX_GROUPS)
            break;
        Plan p;
        p.slot.info = g.info;
        terminate_copy(p.slot.info.name, sizeof p.slot.info.name);
        terminate_copy(p.slot.info.last_error, sizeof p.slot.info.last_error);
        p.slot.first = entries;
        p.slot.count = 0;
        p.members = nullptr;
        if (g.info.synced && !g.info.overflow) {
            size_t bytes = 0;
            for (const std::string &m : g.members)
                bytes += m.size() + 1;
            if (g.members.size() > GROUP_STORE_MAX_MEMBERS || pool + bytes > GROUP_STORE_POOL_BYTES ||
                entries + g.members.size() > static_cast<size_t>(kMaxMemberEntries)) {
                p.slot.info.overflow = true;
                std::string why = g.members.size() > GROUP_STORE_MAX_MEMBERS
                                      ? "group has " + std::to_string(g.members.size()) + " members, more than " +
                                            std::to_string(GROUP_STORE_MAX_MEMBERS)
                                      : std::string("shared memory for member names is full");
                strlcpy(p.slot.info.last_error, why.c_str(), sizeof p.slot.info.last_error);
                overflowed.push_back(g.info.name);
            } else {
                p.members = &g.members;
                p.slot.count = static_cast<uint32>(g.members.size());
                entries += p.slot.count;
                pool += bytes;
            }
        }
        if (p.slot.info.overflow)
            p.slot.info.member_count = 0;
        else if (p.members != nullptr)
            p.slot.info.member_count = static_cast<int>(p.slot.count);
        plan.push_back(p);
    }

    LWLockAcquire(gs->lock, LW_EXCLUSIVE);
    uint32 used = 0;
    gs->ngroups = 0;
    for (const Plan &p : plan) {
        GroupSlot &slot = gs->groups[gs->ngroups++];
        slot = p.slot;
        if (p.members == nullptr)
            continue;
        uint32 i = p.slot.first;
        for (const std::string &m : *p.members) {
            gs->offsets[i++] = used;
            memcpy(gs->pool + used, m.c_str(), m.size() + 1);
            used += static_cast<uint32>(m.size() + 1);
        }
    }
    gs->pool_used = used;
    LWLockRelease(gs->lock);
    return overflowed;
}

void group_store_clear(void) {
    if (gs == nullptr)
        return;
    LWLockAcquire(gs->lock, LW_EXCLUSIVE);
    gs->ngroups = 0;
    gs->pool_used = 0;
    LWLockRelease(gs->lock);
}

/* ---- reading ------------------------------------------------------------ */

static const GroupSlot *find_group(Oid roleid) {
    for (int i = 0; i < gs->ngroups; i++) {
        if (gs->groups[i].info.roleid == roleid)
            return &gs->groups[i];
    }
    return nullptr;
}

bool group_store_is_stale(const GroupSyncInfo *info, TimestampTz now) {
    if (dbx_oauth_group_membership_max_age <= 0 || !info->synced)
        return false;
    return info->last_success == 0 ||
           now - info->last_success > static_cast<TimestampTz>(dbx_oauth_group_membership_max_age) * USECS_PER_SEC;
}

int group_store_lookup(Oid group_roleid, const char *folded_identity) {
    if (gs == nullptr)
        return -1;
    int result = -1;
    const TimestampTz now = GetCurrentTimestamp();
    LWLockAcquire(gs->lock, LW_SHARED);
    const GroupSlot *slot = find_group(group_roleid);
    if (slot != nullptr && slot->info.synced && group_store_is_stale(&slot->info, now)) {
        result = GROUP_STORE_STALE;
    } else if (slot != nullptr && slot->info.synced) {
        result = 0;
        if (!slot->info.overflow) {
            uint32 lo = slot->first, hi = slot->first + slot->count;
            while (lo < hi) {
                uint32 mid = lo + (hi - lo) / 2;
                int c = strcmp(gs->pool + gs->offsets[mid], folded_identity);
                if (c == 0) {
                    result = 1;
                    break;
                }
                if (c < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
        }
    }
    LWLockRelease(gs->lock);
    return result;
}

std::vector<GroupSyncInfo> group_store_copy_groups(void) {
    std::vector<GroupSyncInfo> out;
    if (gs == nullptr)
        return out;
    out.reserve(GROUP_STORE_MAX_GROUPS);
    LWLockAcquire(gs->lock, LW_SHARED);
    for (int i = 0; i < gs->ngroups; i++)
        out.push_back(gs->groups[i].info);
    LWLockRelease(gs->lock);
    return out;
}

/* Raw copy under the lock (buffers sized beforehand), parsed afterwards. */
struct RawCopy {
    std::vector<GroupSlot> groups;
    std::vector<uint32> offsets;
    std::vector<char> pool;
};

static RawCopy raw_copy(void) {
    RawCopy raw;
    if (gs == nullptr)
        return raw;
    raw.groups.resize(GROUP_STORE_MAX_GROUPS);
    raw.offsets.resize(kMaxMemberEntries);
    raw.pool.resize(GROUP_STORE_POOL_BYTES);
    LWLockAcquire(gs->lock, LW_SHARED);
    const int n = gs->ngroups;
    uint32 entries = 0;
    for (int i = 0; i < n; i++) {
        raw.groups[i] = gs->groups[i];
        entries = std::max(entries, gs->groups[i].first + gs->groups[i].count);
    }
    memcpy(raw.offsets.data(), gs->offsets, entries * sizeof(uint32));
    memcpy(raw.pool.data(), gs->pool, gs->pool_used);
    LWLockRelease(gs->lock);
    raw.groups.resize(n);
    return raw;
}

std::vector<PublishedGroup> group_store_copy_snapshot(void) {
    RawCopy raw = raw_copy();
    std::vector<PublishedGroup> out;
    for (const GroupSlot &slot : raw.groups) {
        PublishedGroup g;
        g.info = slot.info;
        for (uint32 i = slot.first; i < slot.first + slot.count; i++)
            g.members.emplace_back(raw.pool.data() + raw.offsets[i]);
        out.push_back(std::move(g));
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> group_store_copy_members(void) {
    std::vector<std::pair<std::string, std::string>> out;
    for (PublishedGroup &g : group_store_copy_snapshot()) {
        for (std::string &m : g.members)
            out.emplace_back(g.info.name, std::move(m));
    }
    return out;
}

int group_store_members_palloc(Oid group_roleid, char ***members_out) {
    *members_out = nullptr;
    if (gs == nullptr)
        return -1;
    int n = -1;
    LWLockAcquire(gs->lock, LW_SHARED);
    const GroupSlot *slot = find_group(group_roleid);
    if (slot != nullptr && slot->info.synced && !slot->info.overflow) {
        n = static_cast<int>(slot->count);
        char **arr = static_cast<char **>(palloc0(sizeof(char *) * (n + 1)));
        for (int i = 0; i < n; i++)
            arr[i] = pstrdup(gs->pool + gs->offsets[slot->first + i]);
        *members_out = arr;
    }
    LWLockRelease(gs->lock);
    return n;
}

/* ---- status ------------------------------------------------------------- */

void group_store_put_status(const IdentitySyncStatus *status) {
    if (gs == nullptr)
        return;
    LWLockAcquire(gs->lock, LW_EXCLUSIVE);
    gs->status = *status;
    terminate_copy(gs->status.mode, sizeof gs->status.mode);
    terminate_copy(gs->status.client_id, sizeof gs->status.client_id);
    terminate_copy(gs->status.database, sizeof gs->status.database);
    terminate_copy(gs->status.token_error, sizeof gs->status.token_error);
    terminate_copy(gs->status.last_error, sizeof gs->status.last_error);
    terminate_copy(gs->status.reconcile_error, sizeof gs->status.reconcile_error);
    LWLockRelease(gs->lock);
}

IdentitySyncStatus group_store_get_status(void) {
    IdentitySyncStatus out;
    memset(&out, 0, sizeof out);
    if (gs == nullptr)
        return out;
    LWLockAcquire(gs->lock, LW_SHARED);
    out = gs->status;
    LWLockRelease(gs->lock);
    return out;
}

/* ---- worker handshake --------------------------------------------------- */

void group_store_worker_attach(Latch *latch, int pid) {
    LWLockAcquire(gs->lock, LW_EXCLUSIVE);
    gs->worker_latch = latch;
    gs->worker_pid = pid;
    LWLockRelease(gs->lock);
}

void group_store_worker_detach(void) {
    if (gs == nullptr)
        return;
    LWLockAcquire(gs->lock, LW_EXCLUSIVE);
    gs->worker_latch = nullptr;
    gs->worker_pid = 0;
    LWLockRelease(gs->lock);
}

int group_store_worker_pid(void) {
    if (gs == nullptr)
        return 0;
    LWLockAcquire(gs->lock, LW_SHARED);
    int pid = gs->worker_pid;
    LWLockRelease(gs->lock);
    return pid;
}

bool group_store_request_sync(void) {
    if (gs == nullptr)
        return false;
    pg_atomic_fetch_add_u64(&gs->sync_requests, 1);
    LWLockAcquire(gs->lock, LW_SHARED);
    Latch *latch = gs->worker_latch;
    if (latch != nullptr)
        SetLatch(latch);
    LWLockRelease(gs->lock);
    return latch != nullptr;
}

bool group_store_take_sync_request(void) {
    if (gs == nullptr)
        return false;
    const uint64 now = pg_atomic_read_u64(&gs->sync_requests);
    LWLockAcquire(gs->lock, LW_EXCLUSIVE);
    const bool pending = now != gs->sync_requests_seen;
    gs->sync_requests_seen = now;
    LWLockRelease(gs->lock);
    return pending;
}

/* ---- wake-up at commit ------------------------------------------------- */

static bool sync_at_commit = false;
static bool xact_callback_registered = false;

static void request_sync_xact_callback(XactEvent event, void *) {
    if (!sync_at_commit)
        return;
    if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) {
        sync_at_commit = false;
        (void) group_store_request_sync();
    } else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT) {
        sync_at_commit = false;
    }
}

void group_sync_request_at_commit(void) {
    if (!xact_callback_registered) {
        RegisterXactCallback(request_sync_xact_callback, nullptr);
        xact_callback_registered = true;
    }
    sync_at_commit = true;
}
