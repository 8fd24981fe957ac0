/*
 * module.cpp — _PG_init: settings, shared memory, hooks and the worker.
 *
 * The library must be in shared_preload_libraries.  Loaded any other way
 * (for instance through the session_preload_libraries guard that every
 * OAuth role carries) it raises FATAL: the authentication hook would not be
 * installed, the trust hba line would let the role in without a token, so
 * the session must end instead (fail closed; docs/architecture.md, "Why the password door fails closed").
 */
#include "pg/session/session_identity.h" /* includes core headers: before postgres.h */

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

#include "pg/login/auth_hook.h"
#include "pg/login/privileged_roles.h"
#include "pg/login/doctor_startup.h"
#include "pg/login/oauth_validator.h"
#include "pg/groups/group_store.h"
#include "pg/common/compat.h"
#include "pg/common/guc.h"
#include "pg/groups/identity_sync_worker.h"
#include "pg/keys/jwks_file.h"
#include "pg/keys/key_store.h"
#include "pg/keys/validate.h"
#include "pg/login/role_labels.h"
#include "pg/lifecycle/session_registry.h"
#include "pg/lifecycle/eviction.h"
#include "pg/lifecycle/session_worker.h"
#include "pg/session/statement_guard.h"
#include "pg/common/stats.h"
#include "pg/session/utility_hook.h"
#include "pg/keys/key_refresh_worker.h"
#include "pg/revocation/revocation.h"

extern "C" {
DBX_OAUTH_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

static shmem_request_hook_type prev_shmem_request_hook = nullptr;
static shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

static void dbx_oauth_shmem_request(void) {
    if (prev_shmem_request_hook)
        prev_shmem_request_hook();
    key_store_shmem_request();
    session_registry_shmem_request();
    stats_shmem_request();
    group_store_shmem_request();
    revocation_shmem_request();
}

static void dbx_oauth_shmem_startup(void) {
    if (prev_shmem_startup_hook)
        prev_shmem_startup_hook();
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    key_store_shmem_startup();
    session_registry_shmem_startup();
    stats_shmem_startup();
    group_store_shmem_startup();
    revocation_shmem_startup();
    LWLockRelease(AddinShmemInitLock);

    /* Static keys are usable from the first connection on (postmaster only). */
    if (!IsUnderPostmaster) {
        load_jwks_file_into_store(LOG);
        /* what every login would otherwise build itself: forked backends inherit it */
        dbx_oauth::pg::validation_prepare_in_postmaster();
    }
}

void _PG_init(void) {
    if (!process_shared_preload_libraries_in_progress)
        ereport(FATAL,
                (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                 errmsg("dbx_oauth must be loaded via shared_preload_libraries"),
                 errdetail("OAuth roles cannot be authenticated without the preloaded library."),
                 errhint("Add dbx_oauth to shared_preload_libraries and restart the server.")));

    dbx_oauth_define_gucs();

    prev_shmem_request_hook = shmem_request_hook;
    shmem_request_hook = dbx_oauth_shmem_request;
    prev_shmem_startup_hook = shmem_startup_hook;
    shmem_startup_hook = dbx_oauth_shmem_startup;

    role_labels_register_provider();
    dbx_oauth::pg::session_identity_init();
    auth_hook_install();
    oauth_door_install();
    utility_hook_install();
    privileged_role_guard_install();
    statement_guard_install();
    revocation_guard_install();
    revocation_xact_init();
    eviction_install_message_hook();
    session_worker_register();
    worker_register();
    identity_sync_worker_register();
    revocation_worker_register();
    doctor_startup_register();
}
