/*
 * stats.cpp — atomic counters; no lock, so counting never slows a login.
 */
#include "pg/common/stats.h"

extern "C" {
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
}

#include <cstring>

namespace {

struct SharedStats {
    pg_atomic_uint64 logins_accepted;
    pg_atomic_uint64 logins_rejected;
    pg_atomic_uint64 set_token_accepted;
    pg_atomic_uint64 set_token_rejected;
    pg_atomic_uint64 evictions[EVICT_REASON_COUNT];
};

SharedStats *shared = nullptr;

void bump(pg_atomic_uint64 *counter) {
    if (shared != nullptr)
        pg_atomic_fetch_add_u64(counter, 1);
}

}  // namespace

void stats_shmem_request(void) {
    RequestAddinShmemSpace(MAXALIGN(sizeof(SharedStats)));
}

void stats_shmem_startup(void) {
    bool found = false;
    shared = static_cast<SharedStats *>(
        ShmemInitStruct("dbx_oauth stats", MAXALIGN(sizeof(SharedStats)), &found));
    if (!found) {
        pg_atomic_init_u64(&shared->logins_accepted, 0);
        pg_atomic_init_u64(&shared->logins_rejected, 0);
        pg_atomic_init_u64(&shared->set_token_accepted, 0);
        pg_atomic_init_u64(&shared->set_token_rejected, 0);
        for (auto &e : shared->evictions)
            pg_atomic_init_u64(&e, 0);
    }
}

void stats_count_login(bool accepted) {
    if (shared)
        bump(accepted ? &shared->logins_accepted : &shared->logins_rejected);
}

void stats_count_set_token(bool accepted) {
    if (shared)
        bump(accepted ? &shared->set_token_accepted : &shared->set_token_rejected);
}

void stats_count_eviction(EvictReason reason) {
    if (shared && reason > EVICT_NONE && reason < EVICT_REASON_COUNT)
        bump(&shared->evictions[reason]);
}

void stats_read(StatsSnapshot *out) {
    memset(out, 0, sizeof(*out));
    if (shared == nullptr)
        return;
    out->logins_accepted = pg_atomic_read_u64(&shared->logins_accepted);
    out->logins_rejected = pg_atomic_read_u64(&shared->logins_rejected);
    out->set_token_accepted = pg_atomic_read_u64(&shared->set_token_accepted);
    out->set_token_rejected = pg_atomic_read_u64(&shared->set_token_rejected);
    for (int i = 0; i < EVICT_REASON_COUNT; i++)
        out->evictions[i] = pg_atomic_read_u64(&shared->evictions[i]);
}

const char *evict_reason_name(EvictReason reason) {
    switch (reason) {
    case EVICT_TOKEN_EXPIRED:
        return "token_expired";
    case EVICT_IDLE:
        return "idle_timeout";
    case EVICT_SESSION_AGE:
        return "session_age";
    case EVICT_PRESSURE:
        return "connection_pressure";
    case EVICT_ON_DEMAND:
        return "on_demand";
    case EVICT_REVOKED:
        return "revoked";
    case EVICT_NONE:
    case EVICT_REASON_COUNT:
        break;
    }
    return "none";
}
