/*
 * revocation_guard.cpp — a set_token switch whose identity or token was
 * revoked fails its next statement and is dropped for good; the pooled
 * connection itself lives on (docs/pooling.md).
 *
 * Checked before every executor start and every utility statement except
 * transaction control (so COMMIT and ROLLBACK always work).  With no switch
 * in force the cost is one pointer test; with one, a hash lookup.
 */
#include "core/validator.h"
#include "pg/session/session_identity.h"

extern "C" {
#include "executor/executor.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
}

#include "pg/common/boundary.h"
#include "pg/common/stats.h"
#include "pg/revocation/revocation.h"

static ExecutorStart_hook_type prev_executor_start = nullptr;
static ProcessUtility_hook_type prev_process_utility = nullptr;

static void check_switch(void) {
    const dbx_oauth::core::VerifiedToken *t = dbx_oauth::pg::session_identity_active_switch_token();
    if (t == nullptr)
        return;
    const char *detail = nullptr;
    RevocationVerdict verdict = revocation_check(t->identity.c_str(), t->issued_at.has_value(),
                                                 t->issued_at.value_or(0), t->revocation_key.c_str(), &detail);
    if (verdict == REVOCATION_OK)
        return;
    const char *role = nullptr;
    dbx_oauth::pg::PgError err;
    if (!dbx_oauth::pg::cpp_call(&err, [&] { role = dbx_oauth::pg::session_identity_drop_active_switch(); }))
        dbx_oauth::pg::raise_pg_error(&err);
    ereport(ERROR, (errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
                    errmsg("the OAuth token set with set_token for role \"%s\" has been revoked", role ? role : ""),
                    errdetail_log("dbx_oauth: switch dropped: reason=%s %s",
                                  verdict == REVOCATION_REVOKED ? "revoked" : "revocations_unavailable",
                                  detail ? detail : ""),
                    errhint("Call dbx_oauth.reset_token(), or dbx_oauth.set_token() with a token that is not revoked.")));
}

static void dbx_oauth_revocation_executor_start(QueryDesc *queryDesc, int eflags) {
    check_switch();
    if (prev_executor_start)
        prev_executor_start(queryDesc, eflags);
    else
        standard_ExecutorStart(queryDesc, eflags);
}

static void dbx_oauth_revocation_process_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
                                                 ProcessUtilityContext context, ParamListInfo params,
                                                 QueryEnvironment *queryEnv, DestReceiver *dest,
                                                 QueryCompletion *qc) {
    if (!IsA(pstmt->utilityStmt, TransactionStmt))
        check_switch();
    if (prev_process_utility)
        prev_process_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
    else
        standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

void revocation_guard_install(void) {
    prev_executor_start = ExecutorStart_hook;
    ExecutorStart_hook = dbx_oauth_revocation_executor_start;
    prev_process_utility = ProcessUtility_hook;
    ProcessUtility_hook = dbx_oauth_revocation_process_utility;
}
