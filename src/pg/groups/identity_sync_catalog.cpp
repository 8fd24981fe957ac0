/*
 * identity_sync_catalog.cpp — phases 1 and 3 of the identity sync worker
 * (see identity_sync_catalog.h): plain C, no C++ objects on these frames.
 */
#include "pg/groups/identity_sync_catalog.h"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include <cstdarg>
#include <cstring>

/* Error texts are informational and may be cut at the buffer size. */
static void note_error(char *dst, size_t len, const char *fmt, ...) pg_attribute_printf(3, 4);
static void note_error(char *dst, size_t len, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(dst, len, fmt, args);
    va_end(args);
}

/* Runs fn in its own transaction; on error records the message. */
static bool run_in_transaction(void (*fn)(void *), void *arg, char *errbuf, size_t errlen) {
    MemoryContext oldcontext = CurrentMemoryContext;
    volatile bool ok = true;
    SetCurrentStatementStartTimestamp();
    StartTransactionCommand();
    PG_TRY();
    {
        if (SPI_connect() != SPI_OK_CONNECT)
            elog(ERROR, "SPI_connect failed");
        PushActiveSnapshot(GetTransactionSnapshot());
        fn(arg);
        SPI_finish();
        PopActiveSnapshot();
        CommitTransactionCommand();
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(oldcontext);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        strlcpy(errbuf, edata->message ? edata->message : "unknown error", errlen);
        FreeErrorData(edata);
        AbortCurrentTransaction();
        ok = false;
    }
    PG_END_TRY();
    MemoryContextSwitchTo(oldcontext);
    pgstat_report_activity(STATE_IDLE, NULL);
    return ok;
}

static void read_catalog_tx(void *arg) {
    CatalogView *cat = static_cast<CatalogView *>(arg);
    pgstat_report_activity(STATE_RUNNING, "dbx_oauth identity sync: reading GROUP roles");
    cat->in_recovery = RecoveryInProgress();
    int rc = SPI_execute("SELECT a.rolname::text, a.oid FROM pg_catalog.pg_shseclabel l"
                         " JOIN pg_catalog.pg_authid a ON a.oid = l.objoid"
                         " WHERE l.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass"
                         "   AND l.provider = 'dbx_oauth' AND l.label = 'GROUP'"
                         " ORDER BY a.rolname",
                         true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading GROUP roles failed: %d", rc);
    cat->ngroups = 0;
    cat->ignored = 0;
    for (uint64 i = 0; i < SPI_processed; i++) {
        if (cat->ngroups >= GROUP_STORE_MAX_GROUPS) {
            cat->ignored++;
            continue;
        }
        bool isnull = false;
        char *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
        Datum oid = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
        if (name == nullptr || isnull)
            continue;
        CatalogGroup &g = cat->groups[cat->ngroups++];
        strlcpy(g.name, name, sizeof g.name);
        g.roleid = DatumGetObjectId(oid);
    }
    rc = SPI_execute("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'dbx_oauth'", true, 1);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading pg_extension failed: %d", rc);
    cat->extension_installed = SPI_processed > 0;
}

void read_catalog(CatalogView *cat) {
    cat->ok = run_in_transaction(read_catalog_tx, cat, cat->error, sizeof cat->error);
    if (!cat->ok)
        ereport(WARNING, (errmsg("dbx_oauth identity sync: could not read GROUP roles"),
                          errdetail("%s", cat->error)));
}

/* One GRANT or REVOKE in a subtransaction: a single bad pair (say, a
 * circular membership) must not stop the others.  Returns success. */
static bool run_statement_in_subxact(const char *sql, char *errbuf, size_t errlen) {
    MemoryContext oldcontext = CurrentMemoryContext;
    ResourceOwner oldowner = CurrentResourceOwner;
    volatile bool ok = true;
    BeginInternalSubTransaction(NULL);
    MemoryContextSwitchTo(oldcontext);
    PG_TRY();
    {
        if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
            elog(ERROR, "statement failed: %s", sql);
        ReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(oldcontext);
        CurrentResourceOwner = oldowner;
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(oldcontext);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        RollbackAndReleaseCurrentSubTransaction();
        MemoryContextSwitchTo(oldcontext);
        CurrentResourceOwner = oldowner;
        strlcpy(errbuf, edata->message ? edata->message : "unknown error", errlen);
        FreeErrorData(edata);
        ok = false;
    }
    PG_END_TRY();
    return ok;
}

struct ReconcileJob {
    Oid group_roleid;
    const char *group_name;
    int nmembers;
    char **members;
    int grants;
    int revokes;
    char error[GROUP_STORE_MAX_ERROR_LEN];
};

/* One row of a reconcile query: (role oid, role name[, still granted]). */
struct RoleRow {
    Oid oid;
    char *name;
    bool flag;
};

/* Runs a read-only query over ($1 member names, $2 group oid) and copies
 * its rows out before the next SPI call overwrites them. */
static RoleRow *select_role_rows(const char *sql, Datum *values, uint64 *count) {
    Oid argtypes[2] = {TEXTARRAYOID, OIDOID};
    int rc = SPI_execute_with_args(sql, 2, argtypes, values, nullptr, true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading group grants failed: %d", rc);
    const uint64 n = SPI_processed;
    RoleRow *rows = static_cast<RoleRow *>(palloc0(sizeof(RoleRow) * (n + 1)));
    TupleDesc desc = SPI_tuptable->tupdesc;
    for (uint64 i = 0; i < n; i++) {
        HeapTuple tuple = SPI_tuptable->vals[i];
        bool isnull = false;
        rows[i].oid = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
        rows[i].name = pstrdup(SPI_getvalue(tuple, desc, 2));
        rows[i].flag = desc->natts >= 3 && DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull)) && !isnull;
    }
    *count = n;
    return rows;
}

/* Records (or forgets) that this worker granted group_role to member_role. */
static void track_grant(const char *sql, int expected_rc, Oid group_role, Oid member_role) {
    Datum args[2] = {ObjectIdGetDatum(group_role), ObjectIdGetDatum(member_role)};
    Oid types[2] = {OIDOID, OIDOID};
    int rc = SPI_execute_with_args(sql, 2, types, args, nullptr, false, 0);
    if (rc != expected_rc)
        elog(ERROR, "updating dbx_oauth.group_sync_grants failed: %d", rc);
}

/* Runs GRANT/REVOKE in a subtransaction; a failure is noted in the job, not raised. */
static bool change_membership(ReconcileJob *job, const char *verb, const char *qgroup, const char *member) {
    char errbuf[GROUP_STORE_MAX_ERROR_LEN];
    const bool grant = strcmp(verb, "GRANT") == 0;
    char *sql = psprintf("%s %s %s %s", verb, qgroup, grant ? "TO" : "FROM", quote_identifier(member));
    if (!run_statement_in_subxact(sql, errbuf, sizeof errbuf)) {
        note_error(job->error, sizeof job->error, "%s %s \"%s\" failed: %s", verb, grant ? "to" : "from", member,
                   errbuf);
        return false;
    }
    ereport(LOG, (errmsg("dbx_oauth identity sync: %s role \"%s\" %s \"%s\"", grant ? "granted" : "revoked",
                         job->group_name, grant ? "to" : "from", member)));
    return true;
}

static void reconcile_group_tx(void *arg) {
    ReconcileJob *job = static_cast<ReconcileJob *>(arg);
    pgstat_report_activity(STATE_RUNNING, "dbx_oauth identity sync: reconciling group grants");

    Datum *elems = static_cast<Datum *>(palloc(sizeof(Datum) * (job->nmembers + 1)));
    for (int i = 0; i < job->nmembers; i++)
        elems[i] = CStringGetTextDatum(job->members[i]);
    ArrayType *arr = construct_array(elems, job->nmembers, TEXTOID, -1, false, TYPALIGN_INT);
    Datum values[2] = {PointerGetDatum(arr), ObjectIdGetDatum(job->group_roleid)};
    const char *qgroup = quote_identifier(job->group_name);

    /* Member roles (OAuth USER/SERVICE_PRINCIPAL roles named like a member
     * identity, case-insensitively) that are not yet members of the group. */
    uint64 ngrant = 0;
    RoleRow *to_grant = select_role_rows(
        "SELECT a.oid, a.rolname::text FROM pg_catalog.pg_shseclabel l"
        " JOIN pg_catalog.pg_authid a ON a.oid = l.objoid"
        " WHERE l.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND l.provider = 'dbx_oauth'"
        "   AND l.label IN ('USER', 'SERVICE_PRINCIPAL') AND NOT a.rolsuper AND a.oid <> $2"
        "   AND pg_catalog.lower(a.rolname::text COLLATE \"C\") = ANY ($1)"
        "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members u JOIN pg_catalog.pg_authid ur ON ur.oid = u.roleid"
        "               WHERE u.member = a.oid AND ur.rolname = 'dbx_oauth_users')"
        "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m WHERE m.roleid = $2 AND m.member = a.oid)"
        " ORDER BY a.rolname",
        values, &ngrant);
    for (uint64 i = 0; i < ngrant; i++) {
        if (!change_membership(job, "GRANT", qgroup, to_grant[i].name))
            continue;
        track_grant("INSERT INTO dbx_oauth.group_sync_grants (group_role, member_role)"
                    " VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    SPI_OK_INSERT, job->group_roleid, to_grant[i].oid);
        job->grants++;
    }

    /* Grants this worker made whose member is no longer in the group
     * (third column: the membership still exists). */
    uint64 nrevoke = 0;
    RoleRow *to_revoke = select_role_rows(
        "SELECT g.member_role, a.rolname::text,"
        "       EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m WHERE m.roleid = $2 AND m.member = g.member_role)"
        " FROM dbx_oauth.group_sync_grants g JOIN pg_catalog.pg_authid a ON a.oid = g.member_role"
        " WHERE g.group_role = $2"
        "   AND NOT (pg_catalog.lower(a.rolname::text COLLATE \"C\") = ANY ($1))"
        " ORDER BY a.rolname",
        values, &nrevoke);
    for (uint64 i = 0; i < nrevoke; i++) {
        if (to_revoke[i].flag) {
            if (!change_membership(job, "REVOKE", qgroup, to_revoke[i].name))
                continue;
            job->revokes++;
        }
        track_grant("DELETE FROM dbx_oauth.group_sync_grants WHERE group_role = $1 AND member_role = $2",
                    SPI_OK_DELETE, job->group_roleid, to_revoke[i].oid);
    }
}

static void forget_dropped_roles_tx(void *) {
    int rc = SPI_execute("DELETE FROM dbx_oauth.group_sync_grants g"
                         " WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_authid a WHERE a.oid = g.group_role)"
                         "    OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_authid a WHERE a.oid = g.member_role)",
                         false, 0);
    if (rc != SPI_OK_DELETE)
        elog(ERROR, "cleaning group_sync_grants failed: %d", rc);
}

void reconcile_group_grants(const CatalogView *cat, MemoryContext cxt, ReconcileTotals *totals) {
    char errbuf[GROUP_STORE_MAX_ERROR_LEN] = {0};
    memset(totals, 0, sizeof *totals);
    char *first_error = totals->first_error;
    const size_t first_error_len = sizeof totals->first_error;
    if (!run_in_transaction(forget_dropped_roles_tx, nullptr, errbuf, sizeof errbuf))
        strlcpy(first_error, errbuf, first_error_len);
    for (int i = 0; i < cat->ngroups; i++) {
        MemoryContext old = MemoryContextSwitchTo(cxt);
        char **members = nullptr;
        int n = group_store_members_palloc(cat->groups[i].roleid, &members);
        MemoryContextSwitchTo(old);
        if (n < 0)
            continue; /* never synced, or overflowing: grants left alone */
        ReconcileJob job;
        memset(&job, 0, sizeof job);
        job.group_roleid = cat->groups[i].roleid;
        job.group_name = cat->groups[i].name;
        job.nmembers = n;
        job.members = members;
        if (!run_in_transaction(reconcile_group_tx, &job, errbuf, sizeof errbuf)) {
            if (first_error[0] == '\0')
                note_error(first_error, first_error_len, "group \"%s\": %s", job.group_name, errbuf);
            ereport(WARNING, (errmsg("dbx_oauth identity sync: could not reconcile grants of group \"%s\"",
                                     job.group_name),
                              errdetail("%s", errbuf)));
            continue;
        }
        totals->grants += job.grants;
        totals->revokes += job.revokes;
        if (job.error[0] != '\0' && first_error[0] == '\0')
            note_error(first_error, first_error_len, "group \"%s\": %s", job.group_name, job.error);
    }
    MemoryContextReset(cxt);
}
