/*
 * compat.h — the one place that knows which PostgreSQL major version we
 * build against (15, 16, 17, 18, 19).
 *
 * The glue is written against PostgreSQL 15's names.  Where a later version
 * renamed or reshaped an API, this header maps the 15 name (or a dbx_*
 * wrapper, when the 15 name still exists with another meaning) onto the
 * newer one, so behaviour is the same on every version and no other file
 * carries a PG_VERSION_NUM test.  Versions are listed in README.md
 * ("PostgreSQL versions"); 16 is covered by construction only.
 *
 * Include after postgres.h, in the extern "C" section or outside it.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_proc_d.h" /* ProcedureRelationId */
#endif
#if PG_VERSION_NUM >= 180000
#include "tcop/backend_startup.h" /* log_connections */
#else
#include "postmaster/postmaster.h" /* Log_connections */
#endif
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#else
#include "storage/backendid.h"
#endif
}

/*
 * Backend slots.  15 and 16 number backends 1..MaxBackends (BackendId,
 * InvalidBackendId = -1); 17 replaced that with 0-based proc numbers
 * (ProcNumber, INVALID_PROC_NUMBER = -1), and regular backends and
 * background workers still take the first MaxBackends of them.  The session
 * registry keeps the 1-based numbering: on 17+ a backend's id is its proc
 * number plus one, and 0 means "none", which every range check rejects.
 */
#if PG_VERSION_NUM >= 170000
typedef int BackendId;
#define InvalidBackendId 0
#define MyBackendId (MyProcNumber == INVALID_PROC_NUMBER ? InvalidBackendId : MyProcNumber + 1)
/* needs access/parallel.h at the point of use, as on 15 */
#define ParallelLeaderBackendId \
    (ParallelLeaderProcNumber == INVALID_PROC_NUMBER ? InvalidBackendId : ParallelLeaderProcNumber + 1)
#endif

/*
 * Backend status by position in the local snapshot (1..numbackends): 15's
 * pgstat_fetch_stat_local_beentry(i); 16 gave that name to the lookup by
 * backend id and renamed the positional one.  Needs utils/backend_status.h.
 */
#if PG_VERSION_NUM >= 160000
#define dbx_local_beentry_by_index(i) pgstat_get_local_beentry_by_index(i)
#else
#define dbx_local_beentry_by_index(i) pgstat_fetch_stat_local_beentry(i)
#endif

/* 16 added soft-error reporting (escontext); NULL keeps ereport(ERROR). */
#if PG_VERSION_NUM >= 160000
#define dbx_string_to_qualified_name_list(s) stringToQualifiedNameList((s), NULL)
#else
#define dbx_string_to_qualified_name_list(s) stringToQualifiedNameList(s)
#endif

/* 16 folded the per-catalog ACL checks into object_aclcheck.  Needs utils/acl.h. */
#if PG_VERSION_NUM >= 160000
#define dbx_proc_aclcheck(fn, role, mode) object_aclcheck(ProcedureRelationId, (fn), (role), (mode))
#else
#define dbx_proc_aclcheck(fn, role, mode) pg_proc_aclcheck((fn), (role), (mode))
#endif

/* 19 passes the syscache id of an invalidation callback as an enum (utils/syscache.h). */
#if PG_VERSION_NUM >= 190000
#define dbx_syscache_id SysCacheIdentifier
#else
#define dbx_syscache_id int
#endif

/* 19 gave table_beginscan a flags argument (0: a plain sequential scan). Needs access/tableam.h. */
#if PG_VERSION_NUM >= 190000
#define dbx_table_beginscan(rel, snap, nkeys, key) table_beginscan((rel), (snap), (nkeys), (key), 0)
#else
#define dbx_table_beginscan(rel, snap, nkeys, key) table_beginscan((rel), (snap), (nkeys), (key))
#endif

/* 18 records the module's name and version in its magic block (pg_get_loaded_modules). */
#if PG_VERSION_NUM >= 180000
#define DBX_OAUTH_MODULE_MAGIC PG_MODULE_MAGIC_EXT(.name = "dbx_oauth", .version = DBX_OAUTH_VERSION)
#else
#define DBX_OAUTH_MODULE_MAGIC PG_MODULE_MAGIC
#endif

/*
 * Is log_connections asking for who logged in?  15 to 17: a boolean
 * (postmaster/postmaster.h); 18 made it a list of aspects
 * (tcop/backend_startup.h), of which "authentication" and "authorization"
 * name the identity.
 */
#if PG_VERSION_NUM >= 180000
#define dbx_log_connections_on() \
    ((log_connections & (LOG_CONNECTION_AUTHENTICATION | LOG_CONNECTION_AUTHORIZATION)) != 0)
#else
#define dbx_log_connections_on() (Log_connections)
#endif

/*
 * 18 added OAuth validator modules (hba method oauth, libpq/oauth.h): the
 * library is one too (src/pg/login/oauth_validator.cpp).
 */
#define DBX_OAUTH_HAS_OAUTH_VALIDATOR (PG_VERSION_NUM >= 180000)

/*
 * May the session user switch to the role (SET ROLE / set_config('role'))?
 * On 15 membership is enough.  16 split membership into INHERIT and SET
 * options and SET ROLE checks the SET one; the grants create_role makes
 * (plain GRANT, run as the bootstrap superuser) get SET TRUE and INHERIT
 * from the member's attribute, as 15 behaves, so the answer only differs
 * where an administrator revoked the SET option, and then set_token must
 * refuse exactly as SET ROLE would.  Needs utils/acl.h.
 */
#if PG_VERSION_NUM >= 160000
#define dbx_member_can_set_role(member, role) member_can_set_role((member), (role))
#else
#define dbx_member_can_set_role(member, role) is_member_of_role((member), (role))
#endif
