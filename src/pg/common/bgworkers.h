/*
 * bgworkers.h — what every dbx_oauth background worker shares: how it is
 * registered, its main loop (signals, latch wait, SIGHUP reload, shutdown)
 * and how it reports an error it survives.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "postmaster/bgworker.h"
}

#include "pg/common/boundary.h"

/* Registers a worker of this library; name is also its bgw_type. */
void register_dbx_oauth_worker(const char *name, const char *function_name, int flags,
                               BgWorkerStartTime start_time, int restart_seconds);

/* Logs a caught error as a WARNING prefixed with the worker's name; the loop goes on. */
void report_worker_error(const char *worker_name, const dbx_oauth::pg::PgError &err);

/*
 * SIGHUP sets ConfigReloadPending, SIGTERM ShutdownRequestPending (both set
 * the latch); then unblocks signals.  First thing in a worker's main.
 */
void worker_handle_signals(void);

/*
 * One worker's main loop, each worker providing the callbacks.  step is
 * called at start and after every wake-up (latch set or its own timeout);
 * it returns how long to wait (ms).  *reload is true at start and after a
 * SIGHUP (the configuration file is processed by the loop first); a step
 * that applied the new configuration clears it, so one that failed is
 * given the reload again.  The loop ends, without another step, as soon as
 * shutdown is requested; the worker then exits with status 0 (no restart).
 */
struct WorkerLoop {
    const char *log_name; /* LOG "<log_name> started" / "shutting down"; nullptr: no such lines */
    void (*init)(void);   /* once, after the "started" line; may be nullptr */
    long (*step)(bool *reload);
};
[[noreturn]] void run_worker_loop(const WorkerLoop &loop);

/*
 * A step of C++ code (which must not see a longjmp) run through cpp_call: a
 * C++ exception or caught error is reported as a WARNING and the step is
 * retried after error_sleep_ms, with the reload still pending.
 */
template <typename Step>
long worker_cpp_step(const char *worker_name, bool *reload, long error_sleep_ms, Step &&step) {
    long sleep_ms = error_sleep_ms;
    dbx_oauth::pg::PgError err;
    if (dbx_oauth::pg::cpp_call(&err, [&] { sleep_ms = step(*reload); })) {
        *reload = false;
        return sleep_ms;
    }
    report_worker_error(worker_name, err);
    return error_sleep_ms;
}
