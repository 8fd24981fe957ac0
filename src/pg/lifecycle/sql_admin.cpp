/*
 * sql_admin.cpp — dbx_oauth.session_list() (behind the sessions view) and
 * dbx_oauth.stats().
 *
 * Members of pg_read_all_stats (pg_monitor) and superusers see every
 * session; other roles see only their own, as with pg_stat_activity.
 */
#include "pg/common/datum_helpers.h"
#include "pg/lifecycle/eviction.h"
#include "pg/lifecycle/session_registry.h"
#include "pg/common/stats.h"

extern "C" {
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "utils/tuplestore.h"
#include "access/htup_details.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_session_list);
PG_FUNCTION_INFO_V1(dbx_oauth_stats);
}

static const char *method_name(SessionAuthMethod m) {
    return m == SESSION_AUTH_SET_TOKEN ? "set_token" : "login";
}


extern "C" PGDLLEXPORT Datum dbx_oauth_session_list(PG_FUNCTION_ARGS) {
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);

    bool see_all = superuser() || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
    int count = session_registry_slot_count();
    for (int id = 1; id <= count; id++) {
        SessionSnapshot s;
        if (!session_registry_read(id, &s))
            continue;
        if (!see_all && s.pid != MyProcPid)
            continue;
        Datum values[9];
        bool nulls[9] = {false};
        values[0] = Int32GetDatum(s.pid);
        values[1] = CStringGetTextDatum(s.role_name);
        values[2] = CStringGetTextDatum(s.identity);
        values[3] = CStringGetTextDatum(s.identity_type);
        values[4] = CStringGetTextDatum(method_name(s.method));
        values[5] = ts_or_null(s.login_time, &nulls[5]);
        values[6] = ts_or_null(s.token_expires_at, &nulls[6]);
        values[7] = CStringGetTextDatum(s.fingerprint);
        values[8] = CStringGetTextDatum(s.login_oauth ? s.login_identity : "");
        nulls[8] = !s.login_oauth;
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    }
    return (Datum) 0;
}

extern "C" PGDLLEXPORT Datum dbx_oauth_stats(PG_FUNCTION_ARGS) {
    ReturnSetInfo *rsinfo = reinterpret_cast<ReturnSetInfo *>(fcinfo->resultinfo);
    InitMaterializedSRF(fcinfo, 0);

    StatsSnapshot st;
    stats_read(&st);
    auto put = [&](const char *name, uint64 value) {
        Datum values[2] = {CStringGetTextDatum(name), Int64GetDatum(static_cast<int64>(value))};
        bool nulls[2] = {false, false};
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
    };
    put("logins_accepted", st.logins_accepted);
    put("logins_rejected", st.logins_rejected);
    put("set_token_accepted", st.set_token_accepted);
    put("set_token_rejected", st.set_token_rejected);
    for (int r = EVICT_NONE + 1; r < EVICT_REASON_COUNT; r++) {
        char *name = psprintf("evictions_%s", evict_reason_name(static_cast<EvictReason>(r)));
        put(name, st.evictions[r]);
    }
    return (Datum) 0;
}

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_evict_idle_sessions);
}

/* Terminates OAuth sessions idle for longer than the given interval. */
extern "C" PGDLLEXPORT Datum dbx_oauth_evict_idle_sessions(PG_FUNCTION_ARGS) {
    Interval *older_than = PG_GETARG_INTERVAL_P(0);
    int64 ms = (older_than->time + (int64) older_than->day * USECS_PER_DAY +
                (int64) older_than->month * DAYS_PER_MONTH * USECS_PER_DAY) / 1000;
    if (ms < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("interval must not be negative")));
    PG_RETURN_INT32(eviction_evict_idle(ms));
}
