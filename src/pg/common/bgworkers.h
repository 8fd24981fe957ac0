/*
 * bgworkers.h — what every dbx_oauth background worker shares: how it is
 * registered and how it reports an error it survives.
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
