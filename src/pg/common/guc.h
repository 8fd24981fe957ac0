/*
 * guc.h — every dbx_oauth.* setting (README, "Settings"), defined in guc.cpp.
 *
 * Security knobs are PGC_SIGHUP so only the configuration file (or
 * ALTER SYSTEM) changes them.  Any change to a setting that affects token
 * validation bumps dbx_oauth_settings_generation, which invalidates the
 * per-backend parsed settings and validated-token cache.
 */
#pragma once

extern "C" {
#include "postgres.h"
}

extern "C" {
extern char *dbx_oauth_issuers;
extern char *dbx_oauth_audience;
extern char *dbx_oauth_accepted_scopes;
extern char *dbx_oauth_allowed_algorithms;
extern int dbx_oauth_clock_skew;            /* seconds */
extern int dbx_oauth_max_token_lifetime;    /* seconds */
extern char *dbx_oauth_jwks_file;
extern int dbx_oauth_jwks_refresh_interval; /* seconds */
extern char *dbx_oauth_ca_file;
extern bool dbx_oauth_allow_insecure_http;
extern int dbx_oauth_http_timeout;          /* milliseconds */
extern bool dbx_oauth_require_ssl;
extern char *dbx_oauth_authenticator_role;
extern int dbx_oauth_expired_session_action; /* ExpiredSessionAction */
extern int dbx_oauth_expired_session_grace; /* seconds */
extern int dbx_oauth_idle_session_timeout;  /* seconds, 0 = off */
extern int dbx_oauth_max_session_age;       /* seconds, 0 = off */
extern int dbx_oauth_evict_idle_above;      /* percent of max_connections, 0 = off */
extern char *dbx_oauth_client_id;
extern char *dbx_oauth_client_secret_file;
extern int dbx_oauth_group_sync_interval;   /* seconds */
extern int dbx_oauth_group_membership_max_age; /* seconds, 0 = keep forever */
extern char *dbx_oauth_database;            /* database the worker connects to for role sync */
extern int dbx_oauth_token_cache_size;      /* entries per backend */
extern int dbx_oauth_unknown_kid_wait;      /* milliseconds a login waits for a refresh */
extern int dbx_oauth_max_revocations;       /* entries of the revocation mirror (restart) */
}

enum ExpiredSessionAction { EXPIRED_SESSION_NONE = 0, EXPIRED_SESSION_TERMINATE = 1 };

/* Bumped by every assign hook of a validation-relevant setting. */
extern "C" uint64 dbx_oauth_settings_generation;

void dbx_oauth_define_gucs(void);
