/*
 * sql_identity_sync.cpp — dbx_oauth.identity_sync_status(),
 * dbx_oauth.group_sync_status(), dbx_oauth.group_members() (behind the
 * group_members view) and dbx_oauth.sync_groups().
 *
 * They read the group store in shared memory or set the identity-sync
 * worker's latch; no network I/O in a backend, and the service principal's
 * token is not in shared memory, so it cannot leak from here.  Privileges
 * are in src/sql/60_identity_sync.sql.
 */
#include "pg/common/boundary.h"
#include "pg/common/datum_helpers.h"
#include "pg/common/guc.h"
#include "pg/groups/group_store.h"

extern "C" {
#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
}

using dbx_oauth::pg::cpp_call;
using dbx_oauth::pg::pg_call;
using dbx_oauth::pg::PgError;

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_identity_sync_status);
PG_FUNCTION_INFO_V1(dbx_oauth_group_sync_status);
PG_FUNCTION_INFO_V1(dbx_oauth_group_members);
PG_FUNCTION_INFO_V1(dbx_oauth_sync_groups);
}

namespace {

}  // namespace

extern "C" Datum dbx_oauth_identity_sync_status(PG_FUNCTION_ARGS) {
    TupleDesc tupdesc;
    if (get_call_result_type(fcinfo, nullptr, &tupdesc) != TYPEFUNC_COMPOSITE)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("return type must be a row type")));
    tupdesc = BlessTupleDesc(tupdesc);

    IdentitySyncStatus st = group_store_get_status();
    const int worker_pid = group_store_worker_pid();
    constexpr int kCols = 24;
    Datum v[kCols];
    bool n[kCols] = {false};
    v[0] = BoolGetDatum(st.enabled);
    v[1] = text_or_null(st.mode, &n[1]);
    v[2] = text_or_null(st.client_id, &n[2]);
    v[3] = text_or_null(st.database, &n[3]);
    v[4] = BoolGetDatum(st.extension_installed);
    v[5] = BoolGetDatum(st.has_token);
    v[6] = ts_or_null(st.token_obtained_at, &n[6]);
    v[7] = ts_or_null(st.token_expires_at, &n[7]);
    v[8] = ts_or_null(st.next_token_refresh, &n[8]);
    v[9] = Int32GetDatum(st.token_failures);
    v[10] = text_or_null(st.token_error, &n[10]);
    v[11] = ts_or_null(st.last_round, &n[11]);
    v[12] = ts_or_null(st.next_round, &n[12]);
    v[13] = Int32GetDatum(st.groups_ignored);
    v[14] = text_or_null(st.last_error, &n[14]);
    v[15] = ts_or_null(st.reconcile_at, &n[15]);
    v[16] = text_or_null(st.reconcile_error, &n[16]);
    v[17] = Int64GetDatum(st.grants);
    v[18] = Int64GetDatum(st.revokes);
    v[19] = Int32GetDatum(worker_pid);
    n[19] = worker_pid == 0;
    v[20] = Int32GetDatum(st.round_requests);
    v[21] = Int32GetDatum(st.round_throttled);
    v[22] = Int32GetDatum(dbx_oauth_group_membership_max_age);
    int stale = 0;
    PgError err;
    if (!cpp_call(&err, [&] {
            const TimestampTz now = GetCurrentTimestamp();
            for (const GroupSyncInfo &g : group_store_copy_groups()) {
                stale += group_store_is_stale(&g, now) ? 1 : 0;
            }
        }))
        dbx_oauth::pg::raise_pg_error(&err);
    v[23] = Int32GetDatum(stale);
    PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, v, n)));
}

extern "C" Datum dbx_oauth_group_sync_status(PG_FUNCTION_ARGS) {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    PgError err;
    if (!cpp_call(&err, [&] {
            std::vector<GroupSyncInfo> groups = group_store_copy_groups();
            const TimestampTz now = GetCurrentTimestamp();
            for (const GroupSyncInfo &g : groups) {
                pg_call([&] {
                    constexpr int kCols = 13;
                    Datum v[kCols];
                    bool n[kCols] = {false};
                    v[0] = CStringGetTextDatum(g.name);
                    v[1] = BoolGetDatum(g.synced);
                    v[2] = BoolGetDatum(g.found);
                    v[3] = BoolGetDatum(g.overflow);
                    v[4] = Int32GetDatum(g.member_count);
                    n[4] = !g.synced;
                    v[5] = Int32GetDatum(g.unresolved);
                    v[6] = Int32GetDatum(g.inactive);
                    v[7] = ts_or_null(g.last_attempt, &n[7]);
                    v[8] = ts_or_null(g.last_success, &n[8]);
                    v[9] = Int32GetDatum(g.consecutive_failures);
                    v[10] = text_or_null(g.last_error, &n[10]);
                    v[11] = BoolGetDatum(group_store_is_stale(&g, now));
                    v[12] = BoolGetDatum(!g.members_hidden);
                    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
                });
            }
        }))
        dbx_oauth::pg::raise_pg_error(&err);
    return (Datum) 0;
}

extern "C" Datum dbx_oauth_group_members(PG_FUNCTION_ARGS) {
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    PgError err;
    if (!cpp_call(&err, [&] {
            std::vector<std::pair<std::string, std::string>> rows = group_store_copy_members();
            for (const auto &row : rows) {
                pg_call([&] {
                    Datum v[2];
                    bool n[2] = {false, false};
                    v[0] = CStringGetTextDatum(row.first.c_str());
                    v[1] = CStringGetTextDatum(row.second.c_str());
                    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
                });
            }
        }))
        dbx_oauth::pg::raise_pg_error(&err);
    return (Datum) 0;
}

extern "C" Datum dbx_oauth_sync_groups(PG_FUNCTION_ARGS) {
    PG_RETURN_BOOL(group_store_request_sync());
}
