/*
 * session_worker.cpp — "dbx_oauth session monitor": once a second, one
 * eviction pass (eviction.cpp) over every OAuth session.
 *
 * Separate from the key-refresh worker on purpose: that one blocks on the
 * network for up to http_timeout, while eviction must keep its one-second
 * rhythm.  It needs shared memory only (no database), so it also runs on
 * hot standbys.
 */
#include "pg/lifecycle/eviction.h"
#include "pg/lifecycle/session_worker.h"
#include "pg/common/bgworkers.h"
#include "pg/revocation/revocation.h"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

static constexpr long kScanIntervalMs = 1000;

void session_worker_register(void) {
    register_dbx_oauth_worker("dbx_oauth session monitor", "dbx_oauth_session_worker_main", BGWORKER_SHMEM_ACCESS, BgWorkerStart_ConsistentState, 2);
}

static MemoryContext scan_context;

static void scan_init(void) {
    scan_context = AllocSetContextCreate(TopMemoryContext, "dbx_oauth eviction scan", ALLOCSET_DEFAULT_SIZES);
}

/* One eviction pass; settings are read by the pass itself. */
static long scan_step(bool *) {
    MemoryContext old = MemoryContextSwitchTo(scan_context);
    (void) eviction_scan(GetCurrentTimestamp());
    MemoryContextSwitchTo(old);
    MemoryContextReset(scan_context);
    return kScanIntervalMs;
}

extern "C" PGDLLEXPORT void dbx_oauth_session_worker_main(Datum) {
    worker_handle_signals();
    revocation_set_monitor_latch(); /* a revocation wakes the next pass at once */
    run_worker_loop({nullptr, scan_init, scan_step});
}
