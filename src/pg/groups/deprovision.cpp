/*
 * deprovision.cpp — see deprovision.h.
 */
#include "pg/groups/deprovision.h"
#include "pg/revocation/revocation.h"

extern "C" {
#include "access/xact.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

static const char *const kSource = "group_sync";

void apply_deprovisioning(char **block, char **reason, int nblock, bool (*seen_active)(const char *identity),
                          MemoryContext cxt, DeprovisionTotals *totals) {
    memset(totals, 0, sizeof *totals);
    MemoryContext old = MemoryContextSwitchTo(cxt);
    PG_TRY();
    {
        SetCurrentStatementStartTimestamp();
        StartTransactionCommand();
        PushActiveSnapshot(GetTransactionSnapshot());
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "dbx_oauth: SPI_connect failed");
        int rc = SPI_execute("SELECT pg_catalog.to_regclass('dbx_oauth.revocation_entries') IS NOT NULL", true, 1);
        bool has_table = false;
        if (rc == SPI_OK_SELECT && SPI_processed == 1) {
            bool isnull = true;
            Datum d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
            has_table = !isnull && DatumGetBool(d);
        }
        if (has_table) {
            for (int i = 0; i < nblock; i++) {
                if (dbx_oauth_revocation_block(block[i], reason[i], kSource)) {
                    totals->blocked++;
                    ereport(LOG, (errmsg("dbx_oauth identity sync: identity \"%s\" blocked: %s", block[i], reason[i])));
                }
            }
            rc = SPI_execute("SELECT DISTINCT identity FROM dbx_oauth.revocation_entries "
                             "WHERE kind = 'identity-block' AND source = 'group_sync'",
                             true, 0);
            if (rc != SPI_OK_SELECT)
                elog(ERROR, "dbx_oauth: reading group_sync blocks failed (%d)", rc);
            const uint64 n = SPI_processed;
            char **blocked = static_cast<char **>(palloc0(sizeof(char *) * (n + 1)));
            for (uint64 i = 0; i < n; i++)
                blocked[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
            for (uint64 i = 0; i < n; i++) {
                if (blocked[i] != nullptr && seen_active(blocked[i]) &&
                    dbx_oauth_revocation_unblock(blocked[i], kSource)) {
                    totals->unblocked++;
                    ereport(LOG, (errmsg("dbx_oauth identity sync: identity \"%s\" unblocked: active at the workspace again",
                                         blocked[i])));
                }
            }
        }
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(cxt);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        strlcpy(totals->error, edata->message ? edata->message : "unknown error", sizeof totals->error);
        AbortCurrentTransaction();
        ereport(WARNING, (errmsg("dbx_oauth identity sync: could not apply deprovisioning: %s", totals->error)));
    }
    PG_END_TRY();
    MemoryContextSwitchTo(old);
    MemoryContextReset(cxt);
}
