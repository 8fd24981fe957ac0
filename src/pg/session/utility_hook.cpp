/*
 * utility_hook.cpp — DISCARD ALL, SET/RESET ROLE and SET SESSION
 * AUTHORIZATION drop the identity set_token recorded.
 *
 * The identity helpers already ignore a switch once the current role is no
 * longer the switched-to role; dropping it here as well means a later
 * SET ROLE back to that role cannot revive an identity whose token was
 * never presented again.  If the statement then fails, the transaction
 * abort restores the previous state, like the role itself.
 */
#include "pg/session/session_identity.h"

extern "C" {
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
}

#include "pg/common/boundary.h"
#include "pg/session/utility_hook.h"

static ProcessUtility_hook_type prev_process_utility_hook = nullptr;

static bool ends_switch(const Node *stmt) {
    if (IsA(stmt, DiscardStmt))
        return reinterpret_cast<const DiscardStmt *>(stmt)->target == DISCARD_ALL;
    if (IsA(stmt, VariableSetStmt)) {
        const VariableSetStmt *set = reinterpret_cast<const VariableSetStmt *>(stmt);
        return set->name != nullptr &&
               (strcmp(set->name, "role") == 0 || strcmp(set->name, "session_authorization") == 0);
    }
    return false;
}

static void dbx_oauth_process_utility(PlannedStmt *pstmt, const char *queryString,
                                      bool readOnlyTree, ProcessUtilityContext context,
                                      ParamListInfo params, QueryEnvironment *queryEnv,
                                      DestReceiver *dest, QueryCompletion *qc) {
    if (ends_switch(pstmt->utilityStmt)) {
        dbx_oauth::pg::PgError err;
        if (!dbx_oauth::pg::cpp_call(&err, [] { dbx_oauth::pg::session_identity_clear_switch(); }))
            dbx_oauth::pg::raise_pg_error(&err);
    }
    if (prev_process_utility_hook)
        prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv,
                                  dest, qc);
    else
        standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest,
                                qc);
}

void utility_hook_install(void) {
    prev_process_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = dbx_oauth_process_utility;
}
