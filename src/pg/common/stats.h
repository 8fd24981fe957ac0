/*
 * stats.h — cluster-wide counters in shared memory, shown by dbx_oauth.stats().
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "pg/lifecycle/session_registry.h"

void stats_shmem_request(void);
void stats_shmem_startup(void);

void stats_count_login(bool accepted);
void stats_count_set_token(bool accepted);
void stats_count_eviction(EvictReason reason);

struct StatsSnapshot {
    uint64 logins_accepted;
    uint64 logins_rejected;
    uint64 set_token_accepted;
    uint64 set_token_rejected;
    uint64 evictions[EVICT_REASON_COUNT];
};

void stats_read(StatsSnapshot *out);
const char *evict_reason_name(EvictReason reason);
