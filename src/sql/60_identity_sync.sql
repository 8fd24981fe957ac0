
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

-- Upgrade 0.1--0.2: from here on this file is new in 0.2 (the Makefile
-- copies it into the upgrade script).
-- doctor() checks of identity sync (doctor() returns these rows too).
CREATE FUNCTION dbx_oauth.doctor_groups(
    OUT "check" text, OUT status text, OUT detail text, OUT hint text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $doctor_groups$
#variable_conflict use_column
DECLARE
    st record;
    names text;
    n integer;
BEGIN
    -- Calling into the library when it is not preloaded would load it and
    -- end the session (module.cpp refuses it); doctor()'s preload row
    -- reports that case.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_settings WHERE name = 'dbx_oauth.group_sync_interval') THEN
        RETURN;
    END IF;
    SELECT * INTO st FROM dbx_oauth.identity_sync_status();
    IF NOT st.enabled THEN
        "check" := 'identity_sync';
        status := 'ok';
        detail := 'Identity sync is disabled (dbx_oauth.client_id or client_secret_file is empty): catalog grants decide group membership.';
        hint := NULL;
        RETURN NEXT;
        RETURN;
    END IF;

    "check" := 'identity_sync_token';
    IF NOT st.has_token AND st.token_failures > 0 THEN
        status := 'error';
        detail := format('The service principal "%s" has no access token after %s attempts: %s', st.client_id, st.token_failures, st.token_last_error);
        hint := 'Check dbx_oauth.client_id, the secret file and the workspace''s token endpoint; SELECT dbx_oauth.sync_groups() retries at once.';
    ELSE
        status := 'ok';
        detail := CASE WHEN st.has_token THEN 'The service principal has an access token.' ELSE 'No access token yet.' END;
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'group_membership_max_age';
    IF st.membership_max_age = 0 THEN
        status := 'warning';
        detail := 'dbx_oauth.group_membership_max_age is 0: while the workspace cannot be read, removed members keep logging in as their groups for as long as the outage lasts.';
        hint := 'Set dbx_oauth.group_membership_max_age to a few group_sync_interval (default 15min) and reload.';
    ELSE
        SELECT count(*), string_agg(format('%I', group_name), ', ' ORDER BY group_name)
          INTO n, names FROM dbx_oauth.group_sync_status() WHERE stale;
        IF n > 0 THEN
            status := 'error';
            detail := format('%s groups were last synced more than %s s ago; their logins fail closed (reason group_membership_stale): %s', n, st.membership_max_age, names);
            hint := 'See last_error in dbx_oauth.group_sync_status() and token_last_error in dbx_oauth.identity_sync_status().';
        ELSE
            status := 'ok';
            detail := format('Group membership is at most %s s old.', st.membership_max_age);
            hint := NULL;
        END IF;
    END IF;
    RETURN NEXT;

    "check" := 'group_members_visible';
    SELECT count(*), string_agg(format('%I', group_name), ', ' ORDER BY group_name)
      INTO n, names FROM dbx_oauth.group_sync_status() WHERE NOT members_visible;
    IF n > 0 THEN
        status := 'error';
        detail := format('The workspace shows the service principal "%s" no members of %s groups (only id and displayName): %s', st.client_id, n, names);
        hint := 'Give the service principal the workspace admin role, or the group manager role on each GROUP role''s workspace group (docs/operator-guide.md, "Identity sync").';
    ELSE
        status := 'ok';
        detail := 'The service principal can read the members of every synced group.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'group_sync';
    SELECT count(*), string_agg(format('%I (%s)', group_name, coalesce(last_error, 'overflow')), '; ' ORDER BY group_name)
      INTO n, names FROM dbx_oauth.group_sync_status() WHERE consecutive_failures > 0 OR overflow;
    IF n > 0 THEN
        status := 'warning';
        detail := format('%s groups failed their last sync or overflow: %s', n, names);
        hint := 'See dbx_oauth.group_sync_status() and the server log (WARNING lines of "dbx_oauth identity sync").';
    ELSE
        status := 'ok';
        detail := 'Every GROUP role synced at its last attempt.';
        hint := NULL;
    END IF;
    RETURN NEXT;
END
$doctor_groups$;
COMMENT ON FUNCTION dbx_oauth.doctor_groups() IS
  'Identity-sync checks for doctor(): service-principal token, membership age, member visibility, failing or overflowing groups';
REVOKE ALL ON FUNCTION dbx_oauth.doctor_groups() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.doctor_groups() TO pg_monitor;
