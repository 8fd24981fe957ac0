/*
 * statement_guard.cpp — ExecutorStart_hook for set_token switches that
 * must end: expired ones, and ones whose role was changed behind the
 * utility hook's back (set_config('role', ...)), which are dropped before
 * the next statement so that a later switch back cannot revive them.
 *
 * Pooled connections are shared, so an expired switched identity is not a
 * reason to kill the connection: the identity is dropped and the next
 * statement run as that user fails with a clear error (the transaction
 * aborts, which also ends a SET LOCAL ROLE).  Per statement this costs a
 * role-id compare, plus a time compare when
 * dbx_oauth.expired_session_action = terminate.
 */
#include "pg/session/session_identity.h"

extern "C" {
#include "executor/executor.h"
}

#include <ctime>

#include "pg/common/boundary.h"
#include "pg/common/guc.h"
#include "pg/session/statement_guard.h"

static ExecutorStart_hook_type prev_executor_start = nullptr;

static void dbx_oauth_executor_start(QueryDesc *queryDesc, int eflags) {
    /* before any parallel worker reads the registry */
    dbx_oauth::pg::session_identity_publish_pending();
    if (dbx_oauth::pg::session_identity_switch_is_stale()) {
        dbx_oauth::pg::PgError err;
        if (!dbx_oauth::pg::cpp_call(&err, [] { dbx_oauth::pg::session_identity_clear_switch(); }))
            dbx_oauth::pg::raise_pg_error(&err);
    }
    if (dbx_oauth_expired_session_action == EXPIRED_SESSION_TERMINATE) {
        const char *role = nullptr;
        dbx_oauth::pg::PgError err;
        if (!dbx_oauth::pg::cpp_call(&err, [&] {
                role = dbx_oauth::pg::session_identity_expired_switch_role(
                    static_cast<int64_t>(time(nullptr)), dbx_oauth_expired_session_grace);
            }))
            dbx_oauth::pg::raise_pg_error(&err);
        if (role != nullptr)
            ereport(ERROR, (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
                            errmsg("the OAuth token set with set_token for role \"%s\" has expired", role),
                            errhint("Call dbx_oauth.set_token() with a fresh token, or dbx_oauth.reset_token().")));
    }
    if (prev_executor_start)
        prev_executor_start(queryDesc, eflags);
    else
        standard_ExecutorStart(queryDesc, eflags);
}

void statement_guard_install(void) {
    prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = dbx_oauth_executor_start;
}
