/*
 * eviction.cpp — one pass over the OAuth login sessions, the eviction rules
 * applied to it, and the signals.
 *
 * The pass reads only the session registry (session_registry_scan_logins):
 * per OAuth login its pid, token expiry and the backend's live state, read
 * in place from that backend's own status entry.  It takes no snapshot of
 * every backend's status and joins nothing, so its cost is one walk of a
 * small dense array plus one status read per OAuth session, with no catalog
 * access; the session worker runs it every second.  Only connection
 * pressure needs the count of every client backend, and only when the
 * proc array's count (an upper bound) is over the threshold is the exact
 * count taken from PostgreSQL's backend status.  The decisions are made by
 * the core (src/core/eviction_rules.h) over plain copies; revocation
 * lookups, signalling and logging stay here, outside any C++ scope, because
 * they may ereport.
 */
#include "core/eviction_rules.h"
#include "pg/lifecycle/eviction.h"
#include "pg/common/boundary.h"
#include "pg/common/compat.h"
#include "pg/common/guc.h"
#include "pg/lifecycle/session_registry.h"
#include "pg/common/stats.h"
#include "pg/revocation/revocation.h"

extern "C" {
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/backend_status.h"
#include "utils/elog.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

#include <csignal>
#include <vector>

namespace core = dbx_oauth::core;
using dbx_oauth::pg::cpp_call;
using dbx_oauth::pg::PgError;
using dbx_oauth::pg::raise_pg_error;

namespace {

struct Candidate {
    LoginActivity a;
    bool revoked; /* the revocation verdict, looked up before the rules run */
    bool ended;   /* terminated by a rule in this pass: not a pressure candidate */
};

struct SessionTable {
    Candidate *oauth; /* OAuth login sessions */
    int oauth_count;
};

/* The registry's OAuth logins with their backends' state, in one pass. */
SessionTable take_snapshot() {
    SessionTable snap = {nullptr, 0};
    int slots = session_registry_slot_count();
    LoginActivity *logins = static_cast<LoginActivity *>(palloc(sizeof(LoginActivity) * (slots + 1)));
    int n = session_registry_scan_logins(logins);
    snap.oauth = static_cast<Candidate *>(palloc0(sizeof(Candidate) * (n + 1)));
    for (int i = 0; i < n; i++)
        snap.oauth[i].a = logins[i];
    snap.oauth_count = n;
    pfree(logins);
    return snap;
}

/* Every client backend, OAuth or not, from PostgreSQL's backend status. */
int count_client_backends() {
    pgstat_clear_backend_activity_snapshot();
    int n = pgstat_fetch_stat_numbackends();
    int count = 0;
    for (int i = 1; i <= n; i++) {
        LocalPgBackendStatus *local = dbx_local_beentry_by_index(i);
        if (local != nullptr && local->backendStatus.st_backendType == B_BACKEND)
            count++;
    }
    return count;
}

/* Marks the backend with the reason, then signals it; false if it is gone. */
bool terminate(const Candidate &c, EvictReason reason) {
    PGPROC *proc = BackendPidGetProc(c.a.pid);
    if (proc == nullptr)
        return false;
    char identity[SESSION_IDENTITY_MAX];
    if (!session_registry_mark_evicted(c.a.backend_id, c.a.pid, reason, identity))
        return false;
    if (kill(c.a.pid, SIGTERM) != 0)
        return false;
    stats_count_eviction(reason);
    ereport(LOG, (errmsg("dbx_oauth: terminating session pid=%d identity=\"%s\" reason=%s", c.a.pid,
                         identity, evict_reason_name(reason))));
    return true;
}

/* ---- plain copies for the core; called only inside cpp_call ---- */

core::SessionState session_state(BackendState state) {
    switch (state) {
    case STATE_RUNNING:
    case STATE_FASTPATH:
        return core::SessionState::active;
    case STATE_IDLE:
        return core::SessionState::idle;
    case STATE_IDLEINTRANSACTION:
        return core::SessionState::idle_in_transaction;
    case STATE_IDLEINTRANSACTION_ABORTED:
        return core::SessionState::idle_in_transaction_aborted;
    default:
        return core::SessionState::other;
    }
}

std::vector<core::SessionRecord> session_records(const SessionTable &snap) {
    std::vector<core::SessionRecord> records(snap.oauth_count);
    for (int i = 0; i < snap.oauth_count; i++) {
        const Candidate &c = snap.oauth[i];
        core::SessionRecord &r = records[i];
        r.pid = c.a.pid;
        r.state = session_state(c.a.state);
        r.state_since = c.a.state_since;
        r.started = c.a.started;
        r.token_expires_at = c.a.token_expires_at;
        r.has_xid = c.a.has_xid;
        r.revoked = c.revoked;
    }
    return records;
}

core::EvictionSettings eviction_settings() {
    core::EvictionSettings settings;
    settings.terminate_expired = dbx_oauth_expired_session_action == EXPIRED_SESSION_TERMINATE;
    settings.expired_session_grace = dbx_oauth_expired_session_grace;
    settings.idle_session_timeout = dbx_oauth_idle_session_timeout;
    settings.max_session_age = dbx_oauth_max_session_age;
    settings.evict_idle_above = dbx_oauth_evict_idle_above;
    return settings;
}

EvictReason evict_reason(core::EvictionReason reason) {
    switch (reason) {
    case core::EvictionReason::revoked:
        return EVICT_REVOKED;
    case core::EvictionReason::token_expired:
        return EVICT_TOKEN_EXPIRED;
    case core::EvictionReason::session_age:
        return EVICT_SESSION_AGE;
    case core::EvictionReason::idle:
        return EVICT_IDLE;
    case core::EvictionReason::pressure:
        return EVICT_PRESSURE;
    case core::EvictionReason::on_demand:
        return EVICT_ON_DEMAND;
    }
    return EVICT_NONE;
}

/* Writes each session's rule verdict (EVICT_NONE: none) into reasons[]. */
void plan_rules(const SessionTable &snap, TimestampTz now, EvictReason *reasons) {
    for (const core::EvictionDecision &d :
         core::rule_evictions(session_records(snap), eviction_settings(), now))
        reasons[d.index] = evict_reason(d.reason);
}

/* Pressure candidates, longest idle first, into order[]; returns how many must go. */
int plan_pressure(const SessionTable &snap, int client_backends, int *order, int *order_count) {
    std::vector<size_t> ended;
    for (int i = 0; i < snap.oauth_count; i++)
        if (snap.oauth[i].ended)
            ended.push_back(i);
    core::PressurePlan plan = core::pressure_evictions(
        session_records(snap), eviction_settings(), client_backends, MaxConnections, ended);
    *order_count = 0;
    for (size_t i : plan.candidates)
        order[(*order_count)++] = static_cast<int>(i);
    return plan.needed;
}

/*
 * Above evict_idle_above percent of max_connections, evict the longest-idle
 * OAuth sessions until under it: never active ones, never ones in a
 * transaction that has written (those wait for the idle timeout).  A
 * candidate that is already gone does not count: the next one goes instead.
 */
int relieve_pressure(const SessionTable &snap) {
    if (dbx_oauth_evict_idle_above <= 0 || snap.oauth_count == 0)
        return 0;
    int *order = static_cast<int *>(palloc0(sizeof(int) * (snap.oauth_count + 1)));
    int order_count = 0;
    int needed = 0;
    /*
     * Every client backend is in the proc array (and leaves it only after
     * its status entry is cleared), so the proc array's count of
     * non-worker processes bounds the client backends from above; the
     * number that must go only grows with it.  Under the threshold with the
     * bound, nothing must go with the exact count either.
     */
    int bound = CountDBConnections(InvalidOid);
    PgError err;
    if (!cpp_call(&err, [&] { needed = plan_pressure(snap, bound, order, &order_count); }))
        raise_pg_error(&err);
    if (needed > 0) {
        int client_backends = count_client_backends();
        if (!cpp_call(&err, [&] { needed = plan_pressure(snap, client_backends, order, &order_count); }))
            raise_pg_error(&err);
    }
    int evicted = 0;
    for (int k = 0; k < order_count && evicted < needed; k++)
        if (terminate(snap.oauth[order[k]], EVICT_PRESSURE))
            evicted++;
    pfree(order);
    return evicted;
}

/* The revocation verdict for the session's login token (its slot, read by pid). */
bool login_revoked(const LoginActivity &a) {
    SessionSnapshot s;
    if (!session_registry_read(a.backend_id, &s) || s.pid != a.pid || !s.login_oauth)
        return false; /* gone since the pass */
    return revocation_check(s.login_identity, s.login_has_iat, s.login_iat, s.login_token_key, nullptr) ==
           REVOCATION_REVOKED;
}

}  // namespace

int eviction_scan(TimestampTz now) {
    SessionTable snap = take_snapshot();
    /* A revoked identity or token ends at once (docs/security-model.md, "Revocation"). */
    for (int i = 0; i < snap.oauth_count; i++) {
        Candidate &c = snap.oauth[i];
        c.revoked = revocation_ready() && login_revoked(c.a);
    }
    EvictReason *reasons =
        static_cast<EvictReason *>(palloc0(sizeof(EvictReason) * (snap.oauth_count + 1)));
    PgError err;
    if (!cpp_call(&err, [&] { plan_rules(snap, now, reasons); }))
        raise_pg_error(&err);
    int evicted = 0;
    for (int i = 0; i < snap.oauth_count; i++) {
        Candidate &c = snap.oauth[i];
        if (reasons[i] != EVICT_NONE && terminate(c, reasons[i])) {
            evicted++;
            c.ended = true;
        }
    }
    evicted += relieve_pressure(snap);
    pfree(reasons);
    pfree(snap.oauth);
    return evicted;
}

int eviction_evict_idle(int64 idle_for_ms) {
    SessionTable snap = take_snapshot();
    TimestampTz now = GetCurrentTimestamp();
    bool *chosen = static_cast<bool *>(palloc0(sizeof(bool) * (snap.oauth_count + 1)));
    PgError err;
    if (!cpp_call(&err, [&] {
            for (const core::EvictionDecision &d :
                 core::on_demand_evictions(session_records(snap), idle_for_ms, now, MyProcPid))
                chosen[d.index] = true;
        }))
        raise_pg_error(&err);
    int evicted = 0;
    for (int i = 0; i < snap.oauth_count; i++)
        if (chosen[i] && terminate(snap.oauth[i], EVICT_ON_DEMAND))
            evicted++;
    pfree(chosen);
    pfree(snap.oauth);
    return evicted;
}

/* ---- the evicted backend's last words ---- */

static emit_log_hook_type prev_emit_log_hook = nullptr;

static const char *eviction_message(EvictReason reason) {
    switch (reason) {
    case EVICT_TOKEN_EXPIRED:
        return "terminating connection because its OAuth token has expired";
    case EVICT_IDLE:
        return "terminating connection because it was idle for longer than dbx_oauth.idle_session_timeout";
    case EVICT_SESSION_AGE:
        return "terminating connection because it is older than dbx_oauth.max_session_age";
    case EVICT_PRESSURE:
        return "terminating idle connection because the server is under connection pressure";
    case EVICT_ON_DEMAND:
        return "terminating idle connection at an administrator's request (dbx_oauth.evict_idle_sessions)";
    case EVICT_REVOKED:
        return "terminating connection because its OAuth token was revoked";
    case EVICT_NONE:
    case EVICT_REASON_COUNT:
        break;
    }
    return nullptr;
}

static void dbx_oauth_emit_log(ErrorData *edata) {
    if (edata->elevel == FATAL && edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN) {
        const char *message = eviction_message(session_registry_own_evict_reason());
        if (message != nullptr)
            edata->message = MemoryContextStrdup(ErrorContext, message);
    }
    if (prev_emit_log_hook)
        prev_emit_log_hook(edata);
}

void eviction_install_message_hook(void) {
    prev_emit_log_hook = emit_log_hook;
    emit_log_hook = dbx_oauth_emit_log;
}
