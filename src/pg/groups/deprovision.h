/*
 * deprovision.h — identities the workspace deactivated or deleted are
 * blocked for every login and set_token through the revocation mechanism
 * (src/pg/revocation/revocation.h, source "group_sync"), and unblocked
 * when the workspace shows them active again.  An administrator's block is
 * never lifted (unblock removes only blocks of source "group_sync").
 *
 * Plain C style like identity_sync_catalog.h: one transaction with SPI,
 * PostgreSQL errors caught with PG_TRY and reported as text.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

struct DeprovisionTotals {
    int blocked;
    int unblocked;
    char error[256]; /* empty when all went well */
};

/*
 * block[i] (reason[i]) are blocked; every identity this worker blocked
 * earlier for which seen_active() is true is unblocked.  Skipped when the
 * installed extension has no revocation table (an older version).  cxt is
 * reset afterwards.
 */
void apply_deprovisioning(char **block, char **reason, int nblock, bool (*seen_active)(const char *identity),
                          MemoryContext cxt, DeprovisionTotals *totals);
