/*
 * worker.h — the dbx_oauth key-refresh background worker.
 *
 * The worker is the only process that does network I/O.  For each issuer
 * in dbx_oauth.issuers it reads the discovery document, fetches jwks_uri,
 * checks every key and publishes the set to the shared-memory key store,
 * persisting the last good set under $PGDATA/dbx_oauth/.  It also loads
 * dbx_oauth.jwks_file (again on every SIGHUP) and answers refresh requests
 * from backends (unknown kid, rate-limited) and from refresh_keys().
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

/* Registers the worker; call from _PG_init while preloading. */
void worker_register(void);

extern "C" PGDLLEXPORT void dbx_oauth_worker_main(Datum main_arg);
