/*
 * role_labels.h — which roles are OAuth roles, and of what identity type.
 *
 * The identity type lives in a security label of provider "dbx_oauth" on the
 * role (pg_shseclabel, a shared catalog), because the login hook runs before
 * a database is fully attached and can read only shared catalogs.  Every
 * OAuth role is also a member of dbx_oauth_users, which is what the trust
 * hba line names.  All functions here may ereport (catalog access).
 */
#pragma once

extern "C" {
#include "postgres.h"
}

#define DBX_OAUTH_LABEL_PROVIDER "dbx_oauth"
#define DBX_OAUTH_USERS_ROLE "dbx_oauth_users"

/* Registers the label provider (from _PG_init). */
void role_labels_register_provider(void);

/* InvalidOid when dbx_oauth_users does not exist (extension never created). */
Oid oauth_users_role_oid(void);

/* Direct or indirect member of dbx_oauth_users (superuser status ignored). */
bool role_is_oauth_member(Oid roleid);

/* The role's identity-type label ("USER", ...) in palloc'd memory, or NULL. */
char *role_identity_label(Oid roleid);

/*
 * The OAuth role (labelled, member of dbx_oauth_users) whose name is the
 * identity: exact match, or for USER identities a case-insensitive match.
 * InvalidOid when there is none.
 */
Oid find_oauth_role_for_identity(const char *identity, bool case_insensitive);

/* Lets create_role set the label while it runs (the provider hook checks it). */
void role_labels_allow_internal_relabel(bool allow);
