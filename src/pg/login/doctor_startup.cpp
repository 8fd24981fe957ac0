/*
 * doctor_startup.cpp — "dbx_oauth startup check": a background worker that
 * runs once after the server has finished recovery, connects to
 * dbx_oauth.database, runs dbx_oauth.doctor() there and logs one WARNING
 * per error-level finding, so a misconfiguration shows up in the log of
 * every start.  It never restarts and never blocks startup: when the
 * extension is not installed in that database, or the query fails, it
 * logs why and exits.
 *
 * The key-refresh worker may not have fetched keys yet when this runs;
 * doctor() reports missing keys as a warning until the worker's first
 * attempt, so a normal start logs nothing.
 */
#include "pg/login/doctor_startup.h"
#include "pg/common/guc.h"
#include "pg/common/bgworkers.h"
#include "pg/revocation/revocation.h"

extern "C" {
#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/wait_event.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
}

void doctor_startup_register(void) {
    register_dbx_oauth_worker("dbx_oauth startup check", "dbx_oauth_doctor_startup_main", BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION, BgWorkerStart_RecoveryFinished, BGW_NEVER_RESTART);
}

/* Logs every error-level finding; returns their number, -1 without the extension. */
static int log_doctor_errors(void) {
    int found = -1;
    if (SPI_connect() != SPI_OK_CONNECT)
        elog(ERROR, "dbx_oauth: SPI_connect failed");
    int rc = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'dbx_oauth'", true, 1);
    if (rc == SPI_OK_SELECT && SPI_processed == 1) {
        rc = SPI_execute("SELECT \"check\", detail, hint FROM dbx_oauth.doctor() WHERE status = 'error'",
                         true, 0);
        if (rc != SPI_OK_SELECT)
            elog(ERROR, "dbx_oauth: could not run dbx_oauth.doctor(): SPI code %d", rc);
        found = (int) SPI_processed;
        for (uint64 i = 0; i < SPI_processed; i++) {
            HeapTuple tup = SPI_tuptable->vals[i];
            TupleDesc desc = SPI_tuptable->tupdesc;
            char *check = SPI_getvalue(tup, desc, 1);
            char *detail = SPI_getvalue(tup, desc, 2);
            char *hint = SPI_getvalue(tup, desc, 3);
            ereport(WARNING,
                    (errcode(ERRCODE_CONFIG_FILE_ERROR),
                     errmsg("dbx_oauth: configuration check \"%s\" failed", check ? check : "?"),
                     detail ? errdetail("%s", detail) : 0, hint ? errhint("%s", hint) : 0));
        }
    }
    SPI_finish();
    return found;
}

/* Longest wait for the revocation loader's first load before the check. */
static constexpr int kWaitForRevocationsMs = 15000;

extern "C" PGDLLEXPORT void dbx_oauth_doctor_startup_main(Datum) {
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(dbx_oauth_database, nullptr, 0);
    pgstat_report_appname("dbx_oauth startup check");

    /*
     * The revocation loader starts at the same moment; until it has read the
     * table, doctor() would report the mirror as missing (logins wait for it
     * too).  Give it the time a login would, plus margin for a busy server.
     */
    for (int waited_ms = 0; !revocation_ready() && waited_ms < kWaitForRevocationsMs; waited_ms += 100) {
        (void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 100, PG_WAIT_EXTENSION);
        ResetLatch(MyLatch);
        CHECK_FOR_INTERRUPTS();
    }

    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    pgstat_report_activity(STATE_RUNNING, "dbx_oauth.doctor()");

    int found = -1;
    MemoryContext oldcontext = CurrentMemoryContext;
    PG_TRY();
    {
        found = log_doctor_errors();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(oldcontext);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        ereport(LOG, (errmsg("dbx_oauth: startup configuration check failed: %s", edata->message)));
        AbortCurrentTransaction();
        pgstat_report_activity(STATE_IDLE, nullptr);
        proc_exit(0);
    }
    PG_END_TRY();

    PopActiveSnapshot();
    CommitTransactionCommand();
    pgstat_report_activity(STATE_IDLE, nullptr);
    if (found < 0)
        ereport(LOG, (errmsg("dbx_oauth: startup configuration check skipped: the extension is not installed in database \"%s\"",
                             dbx_oauth_database)));
    else if (found == 0)
        ereport(LOG, (errmsg("dbx_oauth: startup configuration check found no errors; see SELECT * FROM dbx_oauth.doctor()")));
    proc_exit(0);
}
