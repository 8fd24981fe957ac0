/*
 * sql_doctor.cpp — dbx_oauth.key_worker_pid(), the one fact the
 * configuration doctor (src/sql/70_doctor.sql) cannot read from a catalog
 * or view: whether the key-refresh worker is running.  The worker only
 * touches shared memory, so it is not in pg_stat_activity; it announces its
 * pid in the key store instead.
 */
#include "pg/keys/key_store.h"

extern "C" {
#include "fmgr.h"
}

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_key_worker_pid);
}

extern "C" PGDLLEXPORT Datum dbx_oauth_key_worker_pid(PG_FUNCTION_ARGS) {
    int pid = key_store_worker_pid();
    if (pid == 0)
        PG_RETURN_NULL();
    PG_RETURN_INT32(pid);
}
