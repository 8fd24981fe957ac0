/*
 * identity_sync_catalog.h — the identity sync worker's catalog phases, in
 * plain C style (see identity_sync_worker.cpp for the three phases):
 *
 *   1. read_catalog: the GROUP roles (pg_shseclabel), recovery state and
 *      whether the extension is installed, as plain data;
 *   3. reconcile_group_grants: per GROUP role, one transaction that grants
 *      the group to member roles the store lists and revokes the grants
 *      this worker made earlier (dbx_oauth.group_sync_grants) from roles
 *      that left; each GRANT/REVOKE in its own subtransaction.
 *
 * No C++ objects live on these frames: PostgreSQL errors are caught with
 * PG_TRY per transaction and reported as text.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#include "pg/groups/group_store.h"

/* What the catalog says (plain data). */
struct CatalogGroup {
    char name[NAMEDATALEN];
    Oid roleid;
};

struct CatalogView {
    bool ok;
    char error[GROUP_STORE_MAX_ERROR_LEN];
    bool in_recovery;
    bool extension_installed;
    int ngroups;
    int ignored;
    CatalogGroup groups[GROUP_STORE_MAX_GROUPS];
};

/* Fills *cat in its own transaction; cat->ok is false (and a WARNING
 * logged) when the catalog could not be read. */
void read_catalog(CatalogView *cat);

struct ReconcileTotals {
    int grants;
    int revokes;
    char first_error[GROUP_STORE_MAX_ERROR_LEN]; /* empty when all went well */
};

/* Membership comes from the store (what phase 2 just published); groups
 * never synced or overflowing are left alone.  cxt is reset afterwards. */
void reconcile_group_grants(const CatalogView *cat, MemoryContext cxt, ReconcileTotals *totals);
