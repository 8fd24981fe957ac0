/*
 * group_membership.h — is an identity a member of a Databricks group role?
 *
 * The source of truth is the workspace (SCIM), synced by the worker into
 * shared memory; until a group has been synced, membership granted in the
 * catalog counts (the identity's own OAuth role is a member of the group
 * role).  May ereport (catalog access).
 */
#pragma once

extern "C" {
#include "postgres.h"
}

bool group_membership_contains(const char *group_name, Oid group_roleid, const char *identity,
                               bool identity_is_user);
