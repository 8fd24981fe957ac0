/*
 * bgworkers.cpp — registration, the main loop and error reporting shared by
 * the workers.
 */
#include "pg/common/bgworkers.h"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/wait_event.h"
}

void register_dbx_oauth_worker(const char *name, const char *function_name, int flags,
                               BgWorkerStartTime start_time, int restart_seconds) {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = flags;
    worker.bgw_start_time = start_time;
    worker.bgw_restart_time = restart_seconds;
    strlcpy(worker.bgw_library_name, "dbx_oauth", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, function_name, BGW_MAXLEN);
    strlcpy(worker.bgw_name, name, BGW_MAXLEN);
    strlcpy(worker.bgw_type, name, BGW_MAXLEN);
    RegisterBackgroundWorker(&worker);
}

void report_worker_error(const char *worker_name, const dbx_oauth::pg::PgError &err) {
    ereport(WARNING, (errcode(err.sqlstate), errmsg("%s: %s", worker_name, err.message),
                      err.detail[0] ? errdetail("%s", err.detail) : 0));
}

void worker_handle_signals(void) {
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
    BackgroundWorkerUnblockSignals();
}

void run_worker_loop(const WorkerLoop &loop) {
    if (loop.log_name != nullptr)
        ereport(LOG, (errmsg("%s started", loop.log_name)));
    if (loop.init != nullptr)
        loop.init();

    bool reload = true; /* the first step loads the configuration */
    for (;;) {
        if (ShutdownRequestPending)
            break;
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
            reload = true;
        }
        const long sleep_ms = loop.step(&reload);
        if (ShutdownRequestPending)
            break;
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, sleep_ms, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }
    if (loop.log_name != nullptr)
        ereport(LOG, (errmsg("%s shutting down", loop.log_name)));
    proc_exit(0);
}
