/*
 * privileged_roles.cpp — refuses every role change that would leave an
 * OAuth role holding SUPERUSER, REPLICATION or BYPASSRLS.
 *
 * An OAuth role here is any role that passes a "+dbx_oauth_users" hba line
 * (dbx_oauth_users itself and its direct or indirect members: PostgreSQL's
 * group match ignores superuser status) or carries a dbx_oauth label.  Such
 * a role is let in on trust lines; if the library were ever missing from
 * shared_preload_libraries, a walsender (which never runs the per-role
 * session_preload_libraries guard) would let it in with no token at all,
 * and these attributes would then bypass RLS or stream every change.
 *
 * Many statements can create the combination: ALTER ROLE ... SUPERUSER,
 * CREATE ROLE ... IN ROLE / ROLE, GRANT of dbx_oauth_users or of an OAuth
 * role to a privileged role (or to a group a privileged role belongs to),
 * ALTER GROUP ... ADD USER, SECURITY LABEL.  Rather than reason about each,
 * the hook lets the statement run and then checks the outcome: every
 * privileged role (few, in practice) against dbx_oauth_users and the
 * labels, before and after.  An error aborts the transaction, which undoes
 * the statement.
 */
#include "pg/login/privileged_roles.h"
#include "pg/login/role_labels.h"

extern "C" {
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/syscache.h"
}

static ProcessUtility_hook_type prev_process_utility_hook = nullptr;

static const char *attribute_of(Form_pg_authid form) {
    if (form->rolsuper)
        return "SUPERUSER";
    if (form->rolreplication)
        return "REPLICATION";
    if (form->rolbypassrls)
        return "BYPASSRLS";
    return nullptr;
}

const char *role_privileged_attribute(Oid roleid) {
    HeapTuple tuple = SearchSysCache1(AUTHOID, ObjectIdGetDatum(roleid));
    if (!HeapTupleIsValid(tuple))
        return nullptr;
    const char *attribute = attribute_of(reinterpret_cast<Form_pg_authid>(GETSTRUCT(tuple)));
    ReleaseSysCache(tuple);
    return attribute;
}

static bool may_make_privileged_oauth_role(const Node *stmt) {
    if (IsA(stmt, CreateRoleStmt) || IsA(stmt, AlterRoleStmt) || IsA(stmt, GrantRoleStmt))
        return true;
    return IsA(stmt, SecLabelStmt) && reinterpret_cast<const SecLabelStmt *>(stmt)->objtype == OBJECT_ROLE;
}

/*
 * Privileged OAuth roles (oids) as the catalog stands now; with report set,
 * ereports for the first one not in known instead.
 */
static List *privileged_oauth_roles(List *known, bool report) {
    CommandCounterIncrement(); /* see the statement's own changes */
    Oid users = oauth_users_role_oid();
    List *found = NIL;

    Relation rel = table_open(AuthIdRelationId, AccessShareLock);
    SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, nullptr, 0, nullptr);
    HeapTuple tuple;
    while (HeapTupleIsValid(tuple = systable_getnext(scan))) {
        Form_pg_authid form = reinterpret_cast<Form_pg_authid>(GETSTRUCT(tuple));
        const char *attribute = attribute_of(form);
        if (attribute == nullptr)
            continue;
        bool member = OidIsValid(users) && is_member_of_role_nosuper(form->oid, users);
        if (!member && role_identity_label(form->oid) == nullptr)
            continue;
        if (!report) {
            found = lappend_oid(found, form->oid);
            continue;
        }
        if (list_member_oid(known, form->oid))
            continue;
        ereport(ERROR,
                (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                 errmsg("role \"%s\" cannot be both an OAuth role and %s", NameStr(form->rolname),
                        attribute),
                 errdetail(member ? "The role is a member of %s, so trust lines admit it, and a "
                                    "role with this attribute could bypass the token check or RLS."
                                  : "The role has a dbx_oauth label, and a role with this attribute "
                                    "could bypass the token check or RLS.",
                           DBX_OAUTH_USERS_ROLE),
                 errhint("Keep privileged roles out of %s; give OAuth roles ordinary privileges "
                         "(docs/security-model.md).",
                         DBX_OAUTH_USERS_ROLE)));
    }
    systable_endscan(scan);
    table_close(rel, AccessShareLock);
    return found;
}

static void dbx_oauth_privileged_role_utility(PlannedStmt *pstmt, const char *queryString,
                                              bool readOnlyTree, ProcessUtilityContext context,
                                              ParamListInfo params, QueryEnvironment *queryEnv,
                                              DestReceiver *dest, QueryCompletion *qc) {
    /*
     * Only a statement that makes a new one fails: one that existed before
     * (made while the library was not loaded; doctor() reports it) must not
     * block unrelated role changes, nor fixing several such roles one by one.
     */
    bool check = may_make_privileged_oauth_role(pstmt->utilityStmt);
    List *before = check ? privileged_oauth_roles(NIL, false) : NIL;
    if (prev_process_utility_hook)
        prev_process_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv,
                                  dest, qc);
    else
        standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest,
                                qc);
    if (check)
        (void) privileged_oauth_roles(before, true);
}

void privileged_role_guard_install(void) {
    prev_process_utility_hook = ProcessUtility_hook;
    ProcessUtility_hook = dbx_oauth_privileged_role_utility;
}
