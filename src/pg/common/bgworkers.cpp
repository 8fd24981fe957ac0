/*
 * bgworkers.cpp — registration and error reporting shared by the workers.
 */
#include "pg/common/bgworkers.h"

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
