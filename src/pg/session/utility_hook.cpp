/*
 * utility_hook.cpp — what ends a set_token switch, and what a switch forbids.
 *
 * A switch ends for good the moment the current role differs from the role
 * set_token switched to, whatever path changed it: SET/RESET ROLE (also
 * spelt "ROLE": setting names are case-insensitive), set_config('role', ...),
 * a function's SET clause, inside DO blocks and procedures.  The one place
 * every such path goes through is the assign hook of the role and
 * session_authorization settings, so those hooks are wrapped here.  DISCARD
 * ALL and SET ROLE / SET SESSION AUTHORIZATION also drop the switch in the
 * utility hook, before the statement runs.  A rolled-back change restores
 * the switch together with the role.
 *
 * While a switch is in force, DECLARE ... WITH HOLD is refused: a holdable
 * cursor outlives the transaction, and its rows (read as the switched
 * identity) would stay readable by the pool's own role (docs/pooling.md).
 */
#include "pg/session/session_identity.h"

extern "C" {
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/guc_tables.h"
}

#include "pg/common/boundary.h"
#include "pg/session/utility_hook.h"

static ProcessUtility_hook_type prev_process_utility_hook = nullptr;
static GucStringAssignHook prev_assign_role = nullptr;
static GucStringAssignHook prev_assign_session_authorization = nullptr;

static bool names_role_setting(const char *name) {
    return name != nullptr &&
           (pg_strcasecmp(name, "role") == 0 || pg_strcasecmp(name, "session_authorization") == 0);
}

static bool ends_switch(const Node *stmt) {
    if (IsA(stmt, DiscardStmt))
        return reinterpret_cast<const DiscardStmt *>(stmt)->target == DISCARD_ALL;
    if (IsA(stmt, VariableSetStmt))
        return names_role_setting(reinterpret_cast<const VariableSetStmt *>(stmt)->name);
    return false;
}

static bool declares_holdable_cursor(const Node *stmt) {
    return IsA(stmt, DeclareCursorStmt) &&
           (reinterpret_cast<const DeclareCursorStmt *>(stmt)->options & CURSOR_OPT_HOLD) != 0;
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
    if (declares_holdable_cursor(pstmt->utilityStmt) && dbx_oauth::pg::session_identity_switch_active())
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("cannot declare a WITH HOLD cursor while a set_token identity is in force"),
                        errdetail("A holdable cursor outlives the switch, and its rows would stay readable by the pool's role."),
                        errhint("Declare the cursor WITHOUT HOLD, or read it before the transaction ends.")));
    if (prev_process_utility_hook)
        prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv,
                                  dest, qc);
    else
        standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest,
                                qc);
}

static void dbx_oauth_assign_role(const char *newval, void *extra) {
    if (prev_assign_role)
        prev_assign_role(newval, extra);
    dbx_oauth::pg::session_identity_role_changed();
}

static void dbx_oauth_assign_session_authorization(const char *newval, void *extra) {
    if (prev_assign_session_authorization)
        prev_assign_session_authorization(newval, extra);
    dbx_oauth::pg::session_identity_role_changed();
}

/* Wraps the assign hooks of the core role and session_authorization settings. */
static void wrap_role_assign_hooks(void) {
#if PG_VERSION_NUM >= 160000
    int count = 0;
    struct config_generic **vars = get_guc_variables(&count);
#else
    struct config_generic **vars = get_guc_variables();
    int count = GetNumConfigOptions();
#endif
    bool wrapped_role = false;
    for (int i = 0; i < count; i++) {
        if (vars[i]->vartype != PGC_STRING)
            continue;
        auto *var = reinterpret_cast<struct config_string *>(vars[i]);
        if (strcmp(vars[i]->name, "role") == 0) {
            prev_assign_role = var->assign_hook;
            var->assign_hook = dbx_oauth_assign_role;
            wrapped_role = true;
        } else if (strcmp(vars[i]->name, "session_authorization") == 0) {
            prev_assign_session_authorization = var->assign_hook;
            var->assign_hook = dbx_oauth_assign_session_authorization;
        }
    }
    if (!wrapped_role)
        elog(ERROR, "dbx_oauth: could not find the \"role\" setting");
}

void utility_hook_install(void) {
    prev_process_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = dbx_oauth_process_utility;
    wrap_role_assign_hooks();
}
