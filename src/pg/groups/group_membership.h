/*
 * group_membership.h — is an identity a member of a Databricks group role?
 *
 * The source of truth is the workspace (SCIM), synced by the identity-sync
 * worker into shared memory (group_store.h).  A group that has been synced
 * is answered from the published membership only (authoritative: a member
 * removed at the workspace is refused after the next sync, whatever the
 * catalog says).  Until a group has been synced — sync disabled, or the
 * first sync after a start has not succeeded yet — membership granted in
 * the catalog counts (the identity's own OAuth role is a member of the
 * group role).  May ereport (catalog access).
 */
#pragma once

extern "C" {
#include "postgres.h"
}

bool group_membership_contains(const char *group_name, Oid group_roleid, const char *identity,
                               bool identity_is_user);

/*
 * As group_membership_contains, with the reason for a refusal: nullptr when
 * the identity is a member, else "not_a_group_member" or
 * "group_membership_stale" (the synced membership is older than
 * dbx_oauth.group_membership_max_age: fail closed).
 */
const char *group_membership_refusal(const char *group_name, Oid group_roleid, const char *identity,
                                     bool identity_is_user);
