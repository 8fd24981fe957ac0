/*
 * revocation_worker.cpp — "dbx_oauth revocation loader": keeps the
 * shared-memory copy equal to dbx_oauth.revocation_entries.
 *
 * Once a second it reads revocation_state.revision in dbx_oauth.database;
 * when that moved since the last load (a commit the mirror did not see, a
 * COMMIT PREPARED, a change replayed on a hot standby, the first start) it
 * reads every entry and replaces the copy.  Until the first load, logins
 * fail closed (revocation.h).  On a primary it also deletes token entries
 * whose tokens have expired, once a minute.  Plain C style: everything here
 * may ereport and runs inside PG_TRY.
 */
#include "pg/common/bgworkers.h"
#include "pg/common/guc.h"
#include "pg/revocation/revocation.h"
#include "pg/revocation/revocation_store.h"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
}

static constexpr long kPollMs = 1000;
static constexpr int64 kPurgeEveryMs = 60000;
static constexpr int64 kNoTable = -1;
static constexpr int64 kUnixEpochOffsetUs =
    (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;

static int64 loaded_revision = -2; /* nothing loaded yet */
static TimestampTz last_purge = 0;

static const char *col_text(HeapTuple row, TupleDesc desc, int col) {
    return SPI_getvalue(row, desc, col);
}

/* One entry row as a mirror change; false for rows that add nothing. */
static bool row_to_op(HeapTuple row, TupleDesc desc, RevocationOp *op) {
    memset(op, 0, sizeof *op);
    const char *kind = col_text(row, desc, 1);
    const char *identity = col_text(row, desc, 2);
    const char *token_key = col_text(row, desc, 4);
    const char *source = col_text(row, desc, 6);
    bool isnull = false;
    if (kind == nullptr)
        return false;
    if (strcmp(kind, "identity-cutoff") == 0 && identity != nullptr) {
        Datum d = SPI_getbinval(row, desc, 3, &isnull);
        if (isnull)
            return false;
        op->kind = REV_OP_CUTOFF;
        op->value = DatumGetTimestampTz(d) + kUnixEpochOffsetUs;
        strlcpy(op->key, identity, sizeof op->key);
        return true;
    }
    if (strcmp(kind, "identity-block") == 0 && identity != nullptr) {
        op->kind = REV_OP_BLOCK;
        op->sources = source != nullptr && strcmp(source, "group_sync") == 0 ? 2 : 1;
        strlcpy(op->key, identity, sizeof op->key);
        return true;
    }
    if (strcmp(kind, "token") == 0 && token_key != nullptr) {
        Datum d = SPI_getbinval(row, desc, 5, &isnull);
        op->kind = REV_OP_TOKEN;
        op->value = isnull ? PG_INT64_MAX : (int64) timestamptz_to_time_t(DatumGetTimestampTz(d));
        strlcpy(op->key, token_key, sizeof op->key);
        return true;
    }
    return false;
}

static int64 read_revision(void) {
    if (SPI_execute("SELECT pg_catalog.to_regclass('dbx_oauth.revocation_state') IS NOT NULL", true, 1) != SPI_OK_SELECT)
        elog(ERROR, "could not look up dbx_oauth.revocation_state");
    bool isnull = false;
    if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
        return kNoTable;
    if (SPI_execute("SELECT revision FROM dbx_oauth.revocation_state", true, 1) != SPI_OK_SELECT || SPI_processed == 0)
        elog(ERROR, "could not read dbx_oauth.revocation_state");
    return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Reads the table into the copy; false when a commit raced (try again soon).
 * changes_before: the copy's change count read before the snapshot the table
 * is read with was taken.  A commit applies its changes to the copy only
 * after it became visible, so one that the snapshot missed always moves the
 * count past changes_before and the stale read is thrown away; a count read
 * after the snapshot could already include such a commit, and the replace
 * would drop that revocation until the next reload.
 */
static bool load(int64 revision, uint64 changes_before) {
    if (revision == kNoTable)
        return revocation_store_replace(nullptr, 0, kNoTable, changes_before);
    if (SPI_execute("SELECT kind, identity, issued_before, token_key, expires_at, source "
                    "FROM dbx_oauth.revocation_entries "
                    "WHERE kind <> 'token' OR expires_at > pg_catalog.now()",
                    true, 0) != SPI_OK_SELECT)
        elog(ERROR, "could not read dbx_oauth.revocation_entries");
    uint64 rows = SPI_processed;
    RevocationOp *ops = static_cast<RevocationOp *>(
        MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RevocationOp) * (rows + 1)));
    int count = 0;
    for (uint64 i = 0; i < rows; i++)
        if (row_to_op(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &ops[count]))
            count++;
    bool replaced = revocation_store_replace(ops, count, revision, changes_before);
    pfree(ops);
    if (replaced && revision != kNoTable)
        ereport(DEBUG1, (errmsg("dbx_oauth: loaded %d revocation entries at revision " INT64_FORMAT, count, revision)));
    return replaced;
}

/* Primary only: forget token entries whose tokens expired. */
static void purge(void) {
    int rc = SPI_execute("WITH gone AS (DELETE FROM dbx_oauth.revocation_entries "
                         "WHERE kind = 'token' AND expires_at < pg_catalog.now() RETURNING 1) "
                         "UPDATE dbx_oauth.revocation_state SET revision = revision + 1 "
                         "WHERE EXISTS (SELECT 1 FROM gone)",
                         false, 0);
    if (rc < 0)
        elog(ERROR, "could not purge expired revocations");
    revocation_store_purge((int64) time(nullptr));
}

/* One round in its own transaction; returns false to poll again soon. */
static bool step(void) {
    MemoryContext oldcontext = CurrentMemoryContext;
    volatile bool done = true;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PG_TRY();
    {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
        uint64 changes_before = revocation_store_change_count(); /* before the snapshot: see load() */
        PushActiveSnapshot(GetTransactionSnapshot());
        pgstat_report_activity(STATE_RUNNING, "dbx_oauth: reading revocations");
        int64 revision = read_revision();
        TimestampTz now = GetCurrentTimestamp();
        if (revision != kNoTable && !RecoveryInProgress() &&
            TimestampDifferenceExceeds(last_purge, now, (int) kPurgeEveryMs)) {
            purge();
            last_purge = now;
            revision = read_revision();
        }
        if (revision != loaded_revision) {
            if (load(revision, changes_before))
                loaded_revision = revision;
            else
                done = false;
        }
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(oldcontext);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        ereport(WARNING, (errmsg("dbx_oauth revocation loader: %s", edata->message)));
        FreeErrorData(edata);
        AbortCurrentTransaction();
    }
    PG_END_TRY();
    MemoryContextSwitchTo(oldcontext);
    pgstat_report_activity(STATE_IDLE, NULL);
    return done;
}

void revocation_worker_register(void) {
    /* Hot standbys too: their copy follows the replayed table. */
    register_dbx_oauth_worker("dbx_oauth revocation loader", "dbx_oauth_revocation_worker_main",
                              BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION,
                              BgWorkerStart_ConsistentState, 5);
}

/* The configuration is read where it is used: nothing to apply on reload. */
static long loop_step(bool *) {
    return step() ? kPollMs : 10;
}

extern "C" PGDLLEXPORT void dbx_oauth_revocation_worker_main(Datum) {
    worker_handle_signals();
    BackgroundWorkerInitializeConnection(dbx_oauth_database, nullptr, 0);
    run_worker_loop({nullptr, nullptr, loop_step});
}
