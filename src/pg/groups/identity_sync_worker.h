/*
 * identity_sync_worker.h — the "dbx_oauth identity sync" background worker.
 *
 * When dbx_oauth.client_id and dbx_oauth.client_secret_file are set, it
 * obtains an access token for that service principal with the
 * client-credentials grant (token endpoint from the first issuer's
 * discovery document), keeps it in its own memory only, refreshes it two
 * minutes before expiry (with backoff on failure), and every
 * dbx_oauth.group_sync_interval reads the members of every GROUP role's
 * workspace group over SCIM, publishes them to shared memory
 * (group_store.h) for the login hook, and — on a primary where the
 * extension is installed in dbx_oauth.database — reconciles
 * GRANT <group> TO <member role> for the grants it made
 * (table dbx_oauth.group_sync_grants).  On a hot standby it only publishes.
 * Otherwise it idles until a reload enables it.
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}

/* Registers the worker; call from _PG_init while preloading. */
void identity_sync_worker_register(void);

extern "C" PGDLLEXPORT void dbx_oauth_identity_sync_main(Datum main_arg);
