/*
 * eviction.cpp — the eviction rules over one snapshot of backend states.
 *
 * The snapshot joins PostgreSQL's backend status (state, state change,
 * start time, transaction id) with the session registry (OAuth identity,
 * token expiry) by pid.  Cost is linear in max_connections and involves no
 * catalog access, so the session worker can run it every second.
 * Plain C style: everything here may ereport.
 */
#include "pg/lifecycle/eviction.h"
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

namespace {

struct Candidate {
    int pid;
    BackendId backend_id;
    char identity[SESSION_IDENTITY_MAX];
    BackendState state;
    TimestampTz state_since;
    TimestampTz started;
    TimestampTz token_expires_at;
    bool has_xid;
    bool has_iat;
    int64 iat;
    char token_key[SESSION_TOKEN_KEY_MAX];
};

struct SessionTable {
    Candidate *oauth; /* OAuth login sessions */
    int oauth_count;
    int client_backends; /* every client backend, OAuth or not */
};

/* The registry's OAuth logins, by pid, joined with backend status. */
SessionTable take_snapshot() {
    SessionTable snap = {nullptr, 0, 0};
    int slots = session_registry_slot_count();
    SessionSnapshot *logins = static_cast<SessionSnapshot *>(palloc0(sizeof(SessionSnapshot) * (slots + 1)));
    int login_count = 0;
    for (int id = 1; id <= slots; id++) {
        SessionSnapshot s;
        if (session_registry_read(id, &s) && s.login_oauth)
            logins[login_count++] = s;
    }

    pgstat_clear_backend_activity_snapshot();
    int n = pgstat_fetch_stat_numbackends();
    snap.oauth = static_cast<Candidate *>(palloc0(sizeof(Candidate) * (login_count + 1)));
    for (int i = 1; i <= n; i++) {
        LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
        if (local == nullptr)
            continue;
        PgBackendStatus *be = &local->backendStatus;
        if (be->st_backendType != B_BACKEND)
            continue;
        snap.client_backends++;
        for (int j = 0; j < login_count; j++) {
            if (logins[j].pid != be->st_procpid)
                continue;
            Candidate &c = snap.oauth[snap.oauth_count++];
            c.pid = be->st_procpid;
            c.backend_id = logins[j].backend_id;
            strlcpy(c.identity, logins[j].login_identity, sizeof c.identity);
            c.state = be->st_state;
            c.state_since = be->st_state_start_timestamp;
            c.started = be->st_proc_start_timestamp;
            c.token_expires_at = logins[j].login_expires_at;
            c.has_xid = TransactionIdIsValid(local->backend_xid);
            c.has_iat = logins[j].login_has_iat;
            c.iat = logins[j].login_iat;
            strlcpy(c.token_key, logins[j].login_token_key, sizeof c.token_key);
            break;
        }
    }
    pfree(logins);
    return snap;
}

bool is_idle(const Candidate &c) {
    return c.state == STATE_IDLE || c.state == STATE_IDLEINTRANSACTION ||
           c.state == STATE_IDLEINTRANSACTION_ABORTED;
}

/* Marks the backend with the reason, then signals it; false if it is gone. */
bool terminate(const Candidate &c, EvictReason reason) {
    PGPROC *proc = BackendPidGetProc(c.pid);
    if (proc == nullptr)
        return false;
    if (!session_registry_mark_evicted(c.backend_id, c.pid, reason))
        return false;
    if (kill(c.pid, SIGTERM) != 0)
        return false;
    stats_count_eviction(reason);
    ereport(LOG, (errmsg("dbx_oauth: terminating session pid=%d identity=\"%s\" reason=%s", c.pid,
                         c.identity, evict_reason_name(reason))));
    return true;
}

/* The first rule (expiry, age, idleness) that applies to one session. */
EvictReason rule_for(const Candidate &c, TimestampTz now) {
    /* A revoked identity or token ends at once (docs/security-model.md, "Revocation"). */
    if (revocation_ready() &&
        revocation_check(c.identity, c.has_iat, c.iat, c.token_key, nullptr) == REVOCATION_REVOKED)
        return EVICT_REVOKED;
    if (dbx_oauth_expired_session_action == EXPIRED_SESSION_TERMINATE && c.token_expires_at != 0 &&
        now > TimestampTzPlusMilliseconds(c.token_expires_at,
                                          (int64) dbx_oauth_expired_session_grace * 1000))
        return EVICT_TOKEN_EXPIRED;
    if (dbx_oauth_max_session_age > 0 &&
        now > TimestampTzPlusMilliseconds(c.started, (int64) dbx_oauth_max_session_age * 1000))
        return EVICT_SESSION_AGE;
    if (dbx_oauth_idle_session_timeout > 0 && is_idle(c) &&
        now > TimestampTzPlusMilliseconds(c.state_since, (int64) dbx_oauth_idle_session_timeout * 1000))
        return EVICT_IDLE;
    return EVICT_NONE;
}

int by_longest_idle(const void *a, const void *b) {
    TimestampTz ta = static_cast<const Candidate *>(a)->state_since;
    TimestampTz tb = static_cast<const Candidate *>(b)->state_since;
    return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/*
 * Above evict_idle_above percent of max_connections, evict the longest-idle
 * OAuth sessions until under it: never active ones, never ones in a
 * transaction that has written (those wait for the idle timeout).
 */
int relieve_pressure(SessionTable &snap, int already_evicted) {
    if (dbx_oauth_evict_idle_above <= 0)
        return 0;
    int threshold = (MaxConnections * dbx_oauth_evict_idle_above) / 100;
    int excess = snap.client_backends - already_evicted - threshold;
    if (excess <= 0)
        return 0;
    qsort(snap.oauth, snap.oauth_count, sizeof(Candidate), by_longest_idle);
    int evicted = 0;
    for (int i = 0; i < snap.oauth_count && evicted < excess; i++) {
        Candidate &c = snap.oauth[i];
        if (c.pid == 0 || !is_idle(c) || c.has_xid)
            continue;
        if (terminate(c, EVICT_PRESSURE))
            evicted++;
    }
    return evicted;
}

}  // namespace

int eviction_scan(TimestampTz now) {
    SessionTable snap = take_snapshot();
    int evicted = 0;
    for (int i = 0; i < snap.oauth_count; i++) {
        Candidate &c = snap.oauth[i];
        EvictReason reason = rule_for(c, now);
        if (reason != EVICT_NONE && terminate(c, reason)) {
            evicted++;
            c.pid = 0; /* gone: not a pressure candidate */
        }
    }
    evicted += relieve_pressure(snap, evicted);
    pfree(snap.oauth);
    return evicted;
}

int eviction_evict_idle(int64 idle_for_ms) {
    SessionTable snap = take_snapshot();
    TimestampTz now = GetCurrentTimestamp();
    int evicted = 0;
    for (int i = 0; i < snap.oauth_count; i++) {
        const Candidate &c = snap.oauth[i];
        if (c.pid == MyProcPid || !is_idle(c) || c.has_xid)
            continue;
        if (now > TimestampTzPlusMilliseconds(c.state_since, idle_for_ms) && terminate(c, EVICT_ON_DEMAND))
            evicted++;
    }
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
