-- Identity sync 0.1 -> 0.2: identity_sync_status() and group_sync_status()
-- gain columns (staleness, member visibility, round figures), so they are
-- dropped and created again.  doctor_groups(), new, is copied from the
-- install fragment by the Makefile.
DROP FUNCTION dbx_oauth.identity_sync_status();
CREATE FUNCTION dbx_oauth.identity_sync_status(
    OUT enabled boolean, OUT mode text, OUT client_id text, OUT database text,
    OUT extension_installed boolean,
    OUT has_token boolean, OUT token_obtained_at timestamptz, OUT token_expires_at timestamptz,
    OUT next_token_refresh timestamptz, OUT token_failures integer, OUT token_last_error text,
    OUT last_sync timestamptz, OUT next_sync timestamptz, OUT groups_ignored integer,
    OUT last_error text, OUT last_reconcile timestamptz, OUT reconcile_error text,
    OUT grants_made bigint, OUT revokes_made bigint, OUT worker_pid integer,
    OUT round_requests integer, OUT round_throttled integer,
    OUT membership_max_age integer, OUT stale_groups integer)
RETURNS record
AS 'MODULE_PATHNAME', 'dbx_oauth_identity_sync_status'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.identity_sync_status() IS
  'Identity-sync worker: mode (disabled, primary, standby, publish_only), service-principal token state (never the token), sync times, reconcile results, last errors, SCIM requests and HTTP 429 waits of the last round, dbx_oauth.group_membership_max_age in seconds and how many groups are past it (their logins fail closed)';
REVOKE ALL ON FUNCTION dbx_oauth.identity_sync_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.identity_sync_status() TO pg_monitor;

DROP FUNCTION dbx_oauth.group_sync_status();
CREATE FUNCTION dbx_oauth.group_sync_status(
    OUT group_name text, OUT synced boolean, OUT found boolean, OUT overflow boolean,
    OUT members integer, OUT unresolved integer, OUT inactive integer,
    OUT last_attempt timestamptz, OUT last_success timestamptz,
    OUT consecutive_failures integer, OUT last_error text,
    OUT stale boolean, OUT members_visible boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dbx_oauth_group_sync_status'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.group_sync_status() IS
  'Per GROUP role: whether its membership is synced (then authoritative for logins), found at the workspace, overflowing, member counts, last attempt/success and error, stale (older than dbx_oauth.group_membership_max_age: logins fail closed), members_visible (false: the service principal may not read the members)';
REVOKE ALL ON FUNCTION dbx_oauth.group_sync_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.group_sync_status() TO pg_monitor;
