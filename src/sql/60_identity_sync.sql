
-- Identity sync: the service principal's token (dbx_oauth.client_id) and
-- Databricks group membership synced by the "dbx_oauth identity sync"
-- worker.  Status and membership are readable by pg_monitor members (and
-- superusers); the access token is never exposed (it is not even in shared
-- memory).  sync_groups() makes the worker contact the workspace, so it is
-- not PUBLIC.

-- Grants the worker made (GRANT <group role> TO <member role>), so that it
-- revokes only its own grants when a member leaves the workspace group and
-- never touches grants an administrator made.  Kept in a table rather than
-- derived from the previous membership because that is in memory only:
-- after a restart, or a failover to a standby, removals made meanwhile
-- would be missed.  Rows of dropped roles are deleted by the worker.
CREATE TABLE dbx_oauth.group_sync_grants (
    group_role  oid NOT NULL,
    member_role oid NOT NULL,
    granted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (group_role, member_role)
);
COMMENT ON TABLE dbx_oauth.group_sync_grants IS
  'Group-role grants made by the identity-sync worker (role OIDs); only these are revoked when a member leaves the workspace group';
REVOKE ALL ON dbx_oauth.group_sync_grants FROM PUBLIC;
GRANT SELECT ON dbx_oauth.group_sync_grants TO pg_monitor;

CREATE FUNCTION dbx_oauth.identity_sync_status(
    OUT enabled boolean, OUT mode text, OUT client_id text, OUT database text,
    OUT extension_installed boolean,
    OUT has_token boolean, OUT token_obtained_at timestamptz, OUT token_expires_at timestamptz,
    OUT next_token_refresh timestamptz, OUT token_failures integer, OUT token_last_error text,
    OUT last_sync timestamptz, OUT next_sync timestamptz, OUT groups_ignored integer,
    OUT last_error text, OUT last_reconcile timestamptz, OUT reconcile_error text,
    OUT grants_made bigint, OUT revokes_made bigint, OUT worker_pid integer)
RETURNS record
AS 'MODULE_PATHNAME', 'dbx_oauth_identity_sync_status'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.identity_sync_status() IS
  'Identity-sync worker: mode (disabled, primary, standby, publish_only), service-principal token state (never the token), sync times, reconcile results, last errors';
REVOKE ALL ON FUNCTION dbx_oauth.identity_sync_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.identity_sync_status() TO pg_monitor;

CREATE FUNCTION dbx_oauth.group_sync_status(
    OUT group_name text, OUT synced boolean, OUT found boolean, OUT overflow boolean,
    OUT members integer, OUT unresolved integer, OUT inactive integer,
    OUT last_attempt timestamptz, OUT last_success timestamptz,
    OUT consecutive_failures integer, OUT last_error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dbx_oauth_group_sync_status'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.group_sync_status() IS
  'Per GROUP role: whether its membership is synced (then authoritative for logins), found at the workspace, overflowing, member counts, last attempt/success and error';
REVOKE ALL ON FUNCTION dbx_oauth.group_sync_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.group_sync_status() TO pg_monitor;

CREATE FUNCTION dbx_oauth.group_members(OUT group_name text, OUT member_identity text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dbx_oauth_group_members'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.group_members() IS
  'Published workspace group membership (identities in lower case)';
REVOKE ALL ON FUNCTION dbx_oauth.group_members() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.group_members() TO pg_monitor;

CREATE VIEW dbx_oauth.group_members AS
    SELECT group_name, member_identity FROM dbx_oauth.group_members();
COMMENT ON VIEW dbx_oauth.group_members IS
  'Members of each synced GROUP role as last read from the workspace (identities in lower case)';
REVOKE ALL ON dbx_oauth.group_members FROM PUBLIC;
GRANT SELECT ON dbx_oauth.group_members TO pg_monitor;

CREATE FUNCTION dbx_oauth.sync_groups()
RETURNS boolean
AS 'MODULE_PATHNAME', 'dbx_oauth_sync_groups'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION dbx_oauth.sync_groups() IS
  'Asks the identity-sync worker to sync group membership now (does not wait); false when the worker is not running';
REVOKE ALL ON FUNCTION dbx_oauth.sync_groups() FROM PUBLIC;
