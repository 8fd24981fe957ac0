/*
 * privileged_roles.h — OAuth roles never hold SUPERUSER, REPLICATION or
 * BYPASSRLS (docs/security-model.md, "Privileged roles").
 */
#pragma once

extern "C" {
#include "postgres.h"
}

/* The attribute that makes roleid privileged ("SUPERUSER", ...), or NULL. */
const char *role_privileged_attribute(Oid roleid);

/* Installs the ProcessUtility hook that refuses role changes making one (from _PG_init). */
void privileged_role_guard_install(void);
