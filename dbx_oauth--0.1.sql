/* dbx_oauth install script, assembled from src/sql/NN_area.sql fragments. */
\echo Use "CREATE EXTENSION dbx_oauth" to load this file. \quit

-- The schema is created by CREATE EXTENSION (schema = dbx_oauth in the
-- control file).  Everyone may use it: RLS policies call the helpers as the
-- end user.  Privileged functions are revoked from PUBLIC one by one.
GRANT USAGE ON SCHEMA dbx_oauth TO PUBLIC;

-- Every OAuth role is a member of this NOLOGIN role; the hba line names it:
--   hostssl all +dbx_oauth_users 0.0.0.0/0 trust
-- Roles are cluster-wide, so a second database's CREATE EXTENSION reuses it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'dbx_oauth_users') THEN
        CREATE ROLE dbx_oauth_users NOLOGIN;
    END IF;
END
$$;
COMMENT ON ROLE dbx_oauth_users IS 'Every role made by dbx_oauth.create_role is a member; name it in pg_hba.conf';
-- Token validation with the rules and keys the login hook uses.

CREATE FUNCTION dbx_oauth.validate_token(token text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'dbx_oauth_validate_token'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION dbx_oauth.validate_token(text) IS
  'Validates a Databricks OAuth access token and returns its claims; raises SQLSTATE 28000 naming the reason';

CREATE FUNCTION dbx_oauth.token_status(
    token text,
    OUT valid boolean, OUT reason text, OUT identity text,
    OUT identity_type text, OUT expires_at timestamptz)
RETURNS record
AS 'MODULE_PATHNAME', 'dbx_oauth_token_status'
LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION dbx_oauth.token_status(text) IS
  'Validates a token without raising: (valid, reason, identity, identity_type, expires_at)';

-- Signing keys in shared memory, the key-refresh worker's status, and an
-- on-demand refresh.  Readable by pg_monitor members (and superusers);
-- refresh_keys() makes the worker contact the issuers, so it is not PUBLIC.

CREATE FUNCTION dbx_oauth.keys(
    OUT issuer text, OUT kid text, OUT kty text, OUT alg text,
    OUT source text, OUT fetched_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dbx_oauth_keys'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.keys() IS
  'Usable signing keys in shared memory; issuer "*" holds dbx_oauth.jwks_file keys, trusted for every issuer';
REVOKE ALL ON FUNCTION dbx_oauth.keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.keys() TO pg_monitor;

CREATE VIEW dbx_oauth.keys AS
    SELECT issuer, kid, kty, alg, source, fetched_at FROM dbx_oauth.keys();
COMMENT ON VIEW dbx_oauth.keys IS
  'Signing keys the server validates tokens with: issuer, kid, kty, alg, source (discovery, jwks_file, persisted), fetched_at';
REVOKE ALL ON dbx_oauth.keys FROM PUBLIC;
GRANT SELECT ON dbx_oauth.keys TO pg_monitor;

CREATE FUNCTION dbx_oauth.worker_status(
    OUT issuer text, OUT last_attempt timestamptz, OUT last_success timestamptz,
    OUT last_error text, OUT consecutive_failures integer,
    OUT next_refresh timestamptz, OUT key_count integer, OUT source text,
    OUT clock_offset interval)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dbx_oauth_worker_status'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.worker_status() IS
  'Key-refresh worker state per issuer ("*" = jwks_file): last attempt and success, last error (NULL when healthy), consecutive failures, next refresh, key count and source, and clock_offset: the issuer''s Date header minus the server time at receipt (positive = server clock behind; whole seconds, |offset| <= 1 s shown as 0; NULL when not measured)';
REVOKE ALL ON FUNCTION dbx_oauth.worker_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.worker_status() TO pg_monitor;

CREATE FUNCTION dbx_oauth.refresh_keys()
RETURNS boolean
AS 'MODULE_PATHNAME', 'dbx_oauth_refresh_keys'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION dbx_oauth.refresh_keys() IS
  'Asks the key-refresh worker to refresh every issuer now and waits for it; returns whether the keys changed';
REVOKE ALL ON FUNCTION dbx_oauth.refresh_keys() FROM PUBLIC;
-- OAuth roles: made and dropped by CREATEROLE holders, listed for everyone.

CREATE FUNCTION dbx_oauth.create_role(identity text, identity_type text)
RETURNS text
AS 'MODULE_PATHNAME', 'dbx_oauth_create_role'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION dbx_oauth.create_role(text, text) IS
  'Creates a login role for a Databricks USER (email), SERVICE_PRINCIPAL (application id) or GROUP; needs CREATEROLE';
REVOKE ALL ON FUNCTION dbx_oauth.create_role(text, text) FROM PUBLIC;

CREATE FUNCTION dbx_oauth.drop_role(identity text)
RETURNS void
AS 'MODULE_PATHNAME', 'dbx_oauth_drop_role'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION dbx_oauth.drop_role(text) IS
  'Drops a role made by create_role; needs CREATEROLE';
REVOKE ALL ON FUNCTION dbx_oauth.drop_role(text) FROM PUBLIC;

-- Superusers may call both; grant EXECUTE to the CREATEROLE roles that manage
-- OAuth roles (the functions check CREATEROLE again).

CREATE VIEW dbx_oauth.roles AS
SELECT r.rolname::text AS role_name,
       l.label AS identity_type,
       r.rolcanlogin AS can_login,
       r.oid AS role_oid
FROM pg_catalog.pg_shseclabel l
JOIN pg_catalog.pg_roles r ON r.oid = l.objoid
WHERE l.classoid = 'pg_catalog.pg_authid'::pg_catalog.regclass
  AND l.provider = 'dbx_oauth';
COMMENT ON VIEW dbx_oauth.roles IS 'Roles made by dbx_oauth.create_role, with their identity type';
GRANT SELECT ON dbx_oauth.roles TO PUBLIC;
-- Identity helpers for RLS policies.  Cheap per row (no JSON parsing, no
-- catalog access); STABLE, so the planner may also evaluate them once via
-- the initPlan idiom: USING (owner = (SELECT dbx_oauth.current_identity())).
-- The scalar helpers are PARALLEL SAFE: parallel workers read the leader's
-- identity from shared memory.  Claim-based helpers are leader-only.

CREATE FUNCTION dbx_oauth.current_identity() RETURNS text
AS 'MODULE_PATHNAME', 'dbx_oauth_current_identity'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.current_identity() IS
  'The OAuth identity (email or application id) of this session or transaction; NULL when none';

CREATE FUNCTION dbx_oauth.current_identity_type() RETURNS text
AS 'MODULE_PATHNAME', 'dbx_oauth_current_identity_type'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.current_identity_type() IS
  'USER or SERVICE_PRINCIPAL for the current OAuth identity; NULL when none';

CREATE FUNCTION dbx_oauth.is_service_principal() RETURNS boolean
AS 'MODULE_PATHNAME', 'dbx_oauth_is_service_principal'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.is_service_principal() IS
  'True when the current OAuth identity is a service principal';

CREATE FUNCTION dbx_oauth.token_expires_at() RETURNS timestamptz
AS 'MODULE_PATHNAME', 'dbx_oauth_token_expires_at'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.token_expires_at() IS
  'Expiry of the token behind the current OAuth identity';

CREATE FUNCTION dbx_oauth.claims() RETURNS jsonb
AS 'MODULE_PATHNAME', 'dbx_oauth_claims'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION dbx_oauth.claims() IS
  'All claims of the token behind the current OAuth identity';

CREATE FUNCTION dbx_oauth.claim(name text) RETURNS text
AS 'MODULE_PATHNAME', 'dbx_oauth_claim'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION dbx_oauth.claim(text) IS
  'One claim as text (strings unquoted, other values as JSON)';

CREATE FUNCTION dbx_oauth.has_scope(scope text) RETURNS boolean
AS 'MODULE_PATHNAME', 'dbx_oauth_has_scope'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION dbx_oauth.has_scope(text) IS
  'True when the token behind the current OAuth identity carries the scope';

CREATE FUNCTION dbx_oauth.session_list(
    OUT pid integer, OUT role_name text, OUT identity text, OUT identity_type text,
    OUT auth_method text, OUT backend_start timestamptz, OUT token_expires_at timestamptz,
    OUT token_fingerprint text, OUT login_identity text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dbx_oauth_session_list'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION dbx_oauth.session_list() IS
  'OAuth sessions from shared memory; pg_read_all_stats members see all, others their own';

CREATE VIEW dbx_oauth.sessions AS SELECT * FROM dbx_oauth.session_list();
COMMENT ON VIEW dbx_oauth.sessions IS
  'One row per backend with an OAuth identity (login or set_token)';
GRANT SELECT ON dbx_oauth.sessions TO PUBLIC;

CREATE FUNCTION dbx_oauth.stats(OUT counter text, OUT value bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'dbx_oauth_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION dbx_oauth.stats() IS
  'Cluster-wide counters: logins, set_token calls, evictions by reason';
REVOKE ALL ON FUNCTION dbx_oauth.stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.stats() TO pg_monitor;

-- One shared pool for all users (docs/pooling.md).
CREATE FUNCTION dbx_oauth.set_token(token text, is_local boolean DEFAULT false, as_role text DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'dbx_oauth_set_token'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION dbx_oauth.set_token(text, boolean, text) IS
  'Validates an end user''s token and switches to that identity''s role (SET LOCAL ROLE when is_local); as_role picks a group role the identity belongs to';

CREATE FUNCTION dbx_oauth.reset_token()
RETURNS void
AS 'MODULE_PATHNAME', 'dbx_oauth_reset_token'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION dbx_oauth.reset_token() IS
  'Undoes a session-level set_token: drops the identity and resets the role';

CREATE FUNCTION dbx_oauth.evict_idle_sessions(older_than interval)
RETURNS integer
AS 'MODULE_PATHNAME', 'dbx_oauth_evict_idle_sessions'
LANGUAGE C STRICT VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION dbx_oauth.evict_idle_sessions(interval) IS
  'Terminates OAuth sessions idle longer than older_than (never active ones or ones with open writes); returns how many';
REVOKE ALL ON FUNCTION dbx_oauth.evict_idle_sessions(interval) FROM PUBLIC;
-- Volume access policies with the Databricks AppKit files-plugin semantics
-- (DESIGN.md §2, docs/volume-policies.md).  Policies are JSON, validated when
-- stored, parsed once per backend and evaluated in C++ (src/core/policy.h).

-- Types ----------------------------------------------------------------------

CREATE TYPE dbx_oauth.file_action AS ENUM (
    'list', 'read', 'download', 'raw', 'exists', 'metadata', 'preview',  -- read actions
    'upload', 'mkdir', 'delete'                                          -- write actions
);
COMMENT ON TYPE dbx_oauth.file_action IS
    'AppKit files-plugin action: list, read, download, raw, exists, metadata, preview (read) or upload, mkdir, delete (write)';

CREATE TYPE dbx_oauth.file_resource AS (
    path   text,    -- relative to the volume root
    volume text,    -- volume key
    size   bigint   -- bytes; uploads only
);
COMMENT ON TYPE dbx_oauth.file_resource IS
    'The file or directory a policy decides on: path relative to the volume, volume key, size in bytes (uploads)';

CREATE TYPE dbx_oauth.policy_user AS (
    id                   text,
    is_service_principal boolean
);
COMMENT ON TYPE dbx_oauth.policy_user IS
    'The identity a volume policy sees: user id (email or application id) and whether it is the service principal';

CREATE FUNCTION dbx_oauth.is_read_action(action dbx_oauth.file_action) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN action IN ('list', 'read', 'download', 'raw', 'exists', 'metadata', 'preview');
COMMENT ON FUNCTION dbx_oauth.is_read_action(dbx_oauth.file_action) IS
    'True for the read actions list, read, download, raw, exists, metadata, preview';

CREATE FUNCTION dbx_oauth.is_write_action(action dbx_oauth.file_action) RETURNS boolean
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN action IN ('upload', 'mkdir', 'delete');
COMMENT ON FUNCTION dbx_oauth.is_write_action(dbx_oauth.file_action) IS
    'True for the write actions upload, mkdir, delete';

CREATE FUNCTION dbx_oauth.validate_policy(policy jsonb) RETURNS boolean
    AS 'MODULE_PATHNAME', 'dbx_oauth_validate_policy'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.validate_policy(jsonb) IS
    'Returns true for a valid volume policy (NULL means publicRead); raises 22023 naming where the policy is wrong';

-- Configuration --------------------------------------------------------------

CREATE TABLE dbx_oauth.volumes (
    volume_key      text PRIMARY KEY
                    CONSTRAINT volume_key_format CHECK (volume_key ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'),
    volume_path     text NOT NULL
                    CONSTRAINT volume_path_format CHECK (volume_path ~ '^/Volumes/[^/]+/[^/]+/[^/]+$'
                                                         AND volume_path !~ '/\.\.?(/|$)'),
    auth            text
                    CONSTRAINT auth_mode CHECK (auth IN ('service-principal', 'on-behalf-of-user')),
    policy          jsonb
                    CONSTRAINT policy_valid CHECK (dbx_oauth.validate_policy(policy)),
    max_upload_size bigint CONSTRAINT max_upload_size_positive CHECK (max_upload_size > 0),
    max_read_size   bigint CONSTRAINT max_read_size_positive CHECK (max_read_size > 0)
);
COMMENT ON TABLE dbx_oauth.volumes IS
    'Unity Catalog volumes known to the volume policy functions, with their policy, auth mode and size limits';
COMMENT ON COLUMN dbx_oauth.volumes.volume_key IS 'Name used by applications and policies, e.g. uploads';
COMMENT ON COLUMN dbx_oauth.volumes.volume_path IS 'Volume root, /Volumes/<catalog>/<schema>/<volume>';
COMMENT ON COLUMN dbx_oauth.volumes.auth IS
    'service-principal or on-behalf-of-user; NULL: dbx_oauth.files_settings.auth, then service-principal';
COMMENT ON COLUMN dbx_oauth.volumes.policy IS 'JSON access policy (docs/volume-policies.md); NULL means publicRead';
COMMENT ON COLUMN dbx_oauth.volumes.max_upload_size IS 'Bytes; NULL: dbx_oauth.files_settings.max_upload_size';
COMMENT ON COLUMN dbx_oauth.volumes.max_read_size IS 'Bytes; NULL: dbx_oauth.files_settings.max_read_size';

CREATE TABLE dbx_oauth.files_settings (
    auth            text
                    CONSTRAINT auth_mode CHECK (auth IN ('service-principal', 'on-behalf-of-user')),
    max_upload_size bigint NOT NULL DEFAULT 5368709120  -- 5 GiB
                    CONSTRAINT max_upload_size_positive CHECK (max_upload_size > 0),
    max_read_size   bigint NOT NULL DEFAULT 10485760    -- 10 MiB
                    CONSTRAINT max_read_size_positive CHECK (max_read_size > 0),
    dev_mode        boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX files_settings_single_row ON dbx_oauth.files_settings ((true));
INSERT INTO dbx_oauth.files_settings DEFAULT VALUES;
COMMENT ON TABLE dbx_oauth.files_settings IS
    'Plugin-level defaults for all volumes (one row): auth mode, size limits, development mode';
COMMENT ON COLUMN dbx_oauth.files_settings.auth IS 'Default auth mode; NULL means service-principal';
COMMENT ON COLUMN dbx_oauth.files_settings.max_upload_size IS 'Default upload limit in bytes (5 GiB)';
COMMENT ON COLUMN dbx_oauth.files_settings.max_read_size IS 'Default read limit in bytes (10 MiB)';
COMMENT ON COLUMN dbx_oauth.files_settings.dev_mode IS
    'AppKit NODE_ENV=development: incomplete identity falls back to the service principal instead of 28000';

-- User rows of volumes survive pg_dump; files_settings is created with its row
-- by the extension (see docs/volume-policies.md).
SELECT pg_catalog.pg_extension_config_dump('dbx_oauth.volumes', '');

REVOKE ALL ON TABLE dbx_oauth.volumes, dbx_oauth.files_settings FROM PUBLIC;

-- Every backend caches both tables; changes invalidate the caches at commit.
CREATE FUNCTION dbx_oauth.volumes_invalidate() RETURNS trigger
    AS 'MODULE_PATHNAME', 'dbx_oauth_volumes_invalidate'
    LANGUAGE C;
COMMENT ON FUNCTION dbx_oauth.volumes_invalidate() IS
    'Trigger: invalidates the per-backend caches of dbx_oauth.volumes and dbx_oauth.files_settings';
REVOKE ALL ON FUNCTION dbx_oauth.volumes_invalidate() FROM PUBLIC;

CREATE TRIGGER volumes_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dbx_oauth.volumes
    FOR EACH STATEMENT EXECUTE FUNCTION dbx_oauth.volumes_invalidate();
CREATE TRIGGER files_settings_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON dbx_oauth.files_settings
    FOR EACH STATEMENT EXECUTE FUNCTION dbx_oauth.volumes_invalidate();

-- Functions ------------------------------------------------------------------

CREATE FUNCTION dbx_oauth.volume_auth_mode(volume_key text) RETURNS text
    AS 'MODULE_PATHNAME', 'dbx_oauth_volume_auth_mode'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.volume_auth_mode(text) IS
    'Auth mode of a volume: volumes.auth, else files_settings.auth, else service-principal';

CREATE FUNCTION dbx_oauth.policy_user(volume_key text, forwarded_user text, has_token boolean,
                                      programmatic boolean DEFAULT false)
    RETURNS dbx_oauth.policy_user
    AS 'MODULE_PATHNAME', 'dbx_oauth_policy_user'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.policy_user(text, text, boolean, boolean) IS
    'The policy user AppKit would use for a request (x-forwarded-user, token present, asUser); raises 28000 where AppKit answers 401';

CREATE FUNCTION dbx_oauth.resolve_volume_path(volume_key text, path text) RETURNS text
    AS 'MODULE_PATHNAME', 'dbx_oauth_resolve_volume_path'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.resolve_volume_path(text, text) IS
    'Absolute path of a file in a volume after the path rules (22023 on a violation, 42704 for an unknown volume)';

CREATE FUNCTION dbx_oauth.check_size(volume_key text, action dbx_oauth.file_action, size bigint) RETURNS void
    AS 'MODULE_PATHNAME', 'dbx_oauth_check_size'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.check_size(text, dbx_oauth.file_action, bigint) IS
    'Raises 54000 when an upload or read of size bytes exceeds the volume''s limit';

CREATE FUNCTION dbx_oauth.eval_policy(policy jsonb, action dbx_oauth.file_action,
                                      resource dbx_oauth.file_resource, "user" dbx_oauth.policy_user)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'dbx_oauth_eval_policy'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.eval_policy(jsonb, dbx_oauth.file_action, dbx_oauth.file_resource, dbx_oauth.policy_user) IS
    'Evaluates a JSON volume policy (NULL means publicRead) for an action, resource and user';

CREATE FUNCTION dbx_oauth.volume_allows(volume_key text, action dbx_oauth.file_action, path text,
                                        size bigint DEFAULT NULL, as_user dbx_oauth.policy_user DEFAULT NULL)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'dbx_oauth_volume_allows'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.volume_allows(text, dbx_oauth.file_action, text, bigint, dbx_oauth.policy_user) IS
    'Whether the volume''s policy allows the action on path for as_user (default: the session''s OAuth identity, else current_user as service principal); false for invalid paths';

CREATE FUNCTION dbx_oauth.check_volume_access(volume_key text, action dbx_oauth.file_action, path text,
                                              size bigint DEFAULT NULL, as_user dbx_oauth.policy_user DEFAULT NULL)
    RETURNS text
    AS 'MODULE_PATHNAME', 'dbx_oauth_check_volume_access'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.check_volume_access(text, dbx_oauth.file_action, text, bigint, dbx_oauth.policy_user) IS
    'Like volume_allows but raises (22023 path, 42501 Policy denied, 54000 size) and returns the absolute path';

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

-- The configuration doctor: one row per finding, (check, status, detail,
-- hint) with status ok | warning | error.  It reads pg_hba_file_rules (the
-- pg_hba.conf on disk, superuser-only), pg_settings, pg_db_role_setting,
-- the role labels and the key-refresh worker's status, so it runs as the
-- extension owner (SECURITY DEFINER) and is granted to pg_monitor only.
-- It prints no token, secret or password: only names, line numbers, counts,
-- times and setting values.  At startup a one-shot worker runs it in
-- dbx_oauth.database and logs a WARNING per error (src/pg/doctor_startup.cpp).

CREATE FUNCTION dbx_oauth.key_worker_pid()
RETURNS integer
AS 'MODULE_PATHNAME', 'dbx_oauth_key_worker_pid'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.key_worker_pid() IS
  'Process id of the key-refresh worker, NULL when it is not running';
REVOKE ALL ON FUNCTION dbx_oauth.key_worker_pid() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.key_worker_pid() TO pg_monitor;

CREATE FUNCTION dbx_oauth.doctor(
    OUT "check" text, OUT status text, OUT detail text, OUT hint text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $doctor$
#variable_conflict use_column
DECLARE
    cfg jsonb;  -- pg_settings.setting by name (raw numbers in the unit); no placeholders
    loaded boolean;
    preload_listed boolean;
    require_ssl boolean;
    ssl_on boolean;
    tcp_listening boolean;
    issuer_list text[];
    iss text;
    ws record;
    key_n bigint;
    file_keys bigint;
    worker_pid integer;
    refresh_s bigint;
    skew_s bigint;
    offset_s double precision;
    val text;
    n_bad bigint;
    names text;
    r record;
    -- pg_hba.conf findings: "line N" lists
    hba_errors text[] := '{}';
    trust_nossl_loopback text[] := '{}';
    trust_nossl_remote text[] := '{}';
    skipping_lines text[] := '{}';
    password_lines text[] := '{}';
    tcp_lines text[] := '{}';
    pw_roles text;
BEGIN
    -- Settings as pg_settings shows them.  A placeholder (library not
    -- loaded) is not in pg_settings: NULL, and the default is assumed.
    cfg := (SELECT jsonb_object_agg(s.name, s.setting) FROM pg_settings s
            WHERE s.name LIKE 'dbx\_oauth.%' OR s.name IN ('ssl', 'listen_addresses'));

    ---------------------------------------------------------------- preload
    preload_listed := EXISTS (
        SELECT 1
        FROM unnest(string_to_array(current_setting('shared_preload_libraries'), ',')) AS lib
        WHERE btrim(lib, ' "''') IN ('dbx_oauth', '$libdir/dbx_oauth'));
    loaded := cfg ? 'dbx_oauth.issuers';
    "check" := 'preload';
    IF preload_listed AND loaded THEN
        status := 'ok';
        detail := 'dbx_oauth is in shared_preload_libraries and loaded.';
        hint := NULL;
    ELSE
        status := 'error';
        detail := CASE WHEN preload_listed
            THEN 'dbx_oauth is in shared_preload_libraries but the server has not loaded it yet.'
            ELSE 'dbx_oauth is not in shared_preload_libraries: token logins are not checked, and OAuth roles are refused by their session_preload_libraries guard.' END;
        hint := 'Set shared_preload_libraries = ''dbx_oauth'' in postgresql.conf and restart the server.';
    END IF;
    RETURN NEXT;

    require_ssl := coalesce((cfg->>'dbx_oauth.require_ssl'), 'on') = 'on';
    ssl_on := (cfg->>'ssl') = 'on';
    tcp_listening := btrim(cfg->>'listen_addresses') <> '';

    ---------------------------------------------------------------- issuers
    issuer_list := ARRAY(
        SELECT btrim(x) FROM unnest(string_to_array(
            coalesce((cfg->>'dbx_oauth.issuers'), ''), ',')) AS x
        WHERE btrim(x) <> '');
    "check" := 'issuers';
    IF cardinality(issuer_list) > 0 THEN
        status := 'ok';
        detail := format('%s issuer(s) configured: %s.', cardinality(issuer_list), array_to_string(issuer_list, ', '));
        hint := NULL;
    ELSE
        status := 'error';
        detail := 'dbx_oauth.issuers is empty: no token can be accepted.';
        hint := 'Set dbx_oauth.issuers to your workspace issuer, e.g. ''https://<workspace-host>/oidc'', and reload.';
    END IF;
    RETURN NEXT;

    ---------------------------------------------------- worker, keys, clock
    IF loaded THEN
        worker_pid := dbx_oauth.key_worker_pid();
        "check" := 'worker';
        IF worker_pid IS NOT NULL THEN
            status := 'ok';
            detail := format('The key-refresh worker is running (pid %s).', worker_pid);
            hint := NULL;
        ELSE
            status := 'error';
            detail := 'The key-refresh worker is not running: keys are not refreshed and unknown key ids are not looked up.';
            hint := 'Look for "dbx_oauth key refresh worker" in the server log, check max_worker_processes, and restart the server.';
        END IF;
        RETURN NEXT;

        refresh_s := coalesce((cfg->>'dbx_oauth.jwks_refresh_interval')::bigint, 900);
        skew_s := coalesce((cfg->>'dbx_oauth.clock_skew')::bigint, 60);
        SELECT count(*) INTO file_keys FROM dbx_oauth.keys() k WHERE k.issuer = '*';

        FOREACH iss IN ARRAY issuer_list LOOP
            SELECT * INTO ws FROM dbx_oauth.worker_status() w WHERE w.issuer = iss;
            SELECT count(*) INTO key_n FROM dbx_oauth.keys() k WHERE k.issuer = iss;

            "check" := 'issuer_keys';
            IF key_n + file_keys > 0 THEN
                status := 'ok';
                detail := format('Issuer %s: %s key(s) from the issuer, %s from dbx_oauth.jwks_file.', iss, key_n, file_keys);
                hint := NULL;
            ELSIF ws.last_attempt IS NULL AND worker_pid IS NOT NULL THEN
                status := 'warning';
                detail := format('Issuer %s: no signing keys yet; the worker has not tried to fetch them.', iss);
                hint := 'Wait a few seconds, or run SELECT dbx_oauth.refresh_keys(); as a superuser.';
            ELSE
                status := 'error';
                detail := format('Issuer %s: no signing keys, so every token of this issuer is refused (reason=no_keys).%s',
                                 iss, CASE WHEN ws.last_error IS NOT NULL THEN ' Last error: ' || ws.last_error ELSE '' END);
                hint := 'Check that the server can reach the issuer over HTTPS (dbx_oauth.ca_file, proxies, DNS); see SELECT * FROM dbx_oauth.worker_status().';
            END IF;
            RETURN NEXT;

            "check" := 'key_refresh';
            hint := 'See SELECT * FROM dbx_oauth.worker_status(); and "dbx_oauth" lines in the server log; the last good keys stay in use meanwhile.';
            IF ws.issuer IS NULL OR ws.last_attempt IS NULL THEN
                status := CASE WHEN worker_pid IS NULL THEN 'error' ELSE 'warning' END;
                detail := format('Issuer %s: the worker has not fetched keys yet.', iss);
            ELSIF ws.consecutive_failures > 0 THEN
                status := 'warning';
                detail := format('Issuer %s: the last %s refresh(es) failed: %s; last success %s.', iss,
                                 ws.consecutive_failures, coalesce(ws.last_error, 'unknown error'),
                                 coalesce(date_trunc('second', now() - ws.last_success)::text || ' ago', 'never'));
            ELSIF ws.last_success < now() - make_interval(secs => 2 * refresh_s + 60) THEN
                status := 'warning';
                detail := format('Issuer %s: keys last refreshed %s ago (dbx_oauth.jwks_refresh_interval is %s s).', iss,
                                 date_trunc('second', now() - ws.last_success), refresh_s);
            ELSE
                status := 'ok';
                detail := format('Issuer %s: keys refreshed %s ago.', iss, date_trunc('second', now() - ws.last_success));
                hint := NULL;
            END IF;
            RETURN NEXT;
        END LOOP;

        -- Clock sanity needs the issuer's Date header as the worker saw it:
        -- worker_status().clock_offset (issuer Date minus server time).
        "check" := 'clock';
        IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace
                   WHERE ns.nspname = 'dbx_oauth' AND p.proname = 'worker_status'
                     AND 'clock_offset' = ANY (p.proargnames)) THEN
            offset_s := NULL;
            names := NULL;
            FOR r IN EXECUTE 'SELECT issuer, extract(epoch FROM clock_offset)::float8 AS s
                              FROM dbx_oauth.worker_status() WHERE clock_offset IS NOT NULL AND issuer <> ''*''' LOOP
                IF offset_s IS NULL OR abs(r.s) > abs(offset_s) THEN
                    offset_s := r.s;
                    names := r.issuer;
                END IF;
            END LOOP;
            IF offset_s IS NULL THEN
                status := 'warning';
                detail := 'Not measured yet: no issuer has answered the worker with a Date header.';
                hint := 'Fix the key_refresh findings first.';
            ELSIF abs(offset_s) > skew_s THEN
                status := 'error';
                detail := format('The server clock is %s s %s the clock of issuer %s, more than dbx_oauth.clock_skew (%s s): valid tokens are refused as expired or not yet valid.',
                                 round(abs(offset_s)), CASE WHEN offset_s > 0 THEN 'behind' ELSE 'ahead of' END, names, skew_s);
                hint := 'Synchronise the server clock (chrony or systemd-timesyncd).';
            ELSIF abs(offset_s) > 5 THEN
                status := 'warning';
                detail := format('The server clock is %s s %s the clock of issuer %s.', round(abs(offset_s)),
                                 CASE WHEN offset_s > 0 THEN 'behind' ELSE 'ahead of' END, names);
                hint := 'Synchronise the server clock (chrony or systemd-timesyncd).';
            ELSE
                status := 'ok';
                detail := format('The server clock is within %s s of every issuer.', greatest(1, round(abs(offset_s))));
                hint := NULL;
            END IF;
        ELSE
            status := 'warning';
            detail := 'Not measured: this build''s key-refresh worker does not report the issuer''s Date header.';
            hint := 'Keep the server clock synchronised (chrony or systemd-timesyncd); tokens are checked with dbx_oauth.clock_skew leeway.';
        END IF;
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- audience
    "check" := 'audience';
    val := coalesce((cfg->>'dbx_oauth.audience'), '');
    IF btrim(val) <> '' THEN
        status := 'ok';
        detail := format('Tokens must carry the audience %s.', val);
        hint := NULL;
    ELSE
        status := 'warning';
        detail := 'dbx_oauth.audience is empty: a token issued by a trusted issuer for any audience is accepted.';
        hint := 'Set dbx_oauth.audience to your workspace id and reload.';
    END IF;
    RETURN NEXT;

    ------------------------------------------------------------------ roles
    -- Every labelled role carries the session_preload_libraries guard.
    SELECT count(*), string_agg(format('%I', o.role_name), ', ' ORDER BY o.role_name)
    INTO n_bad, names
    FROM dbx_oauth.roles o
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_db_role_setting s, unnest(s.setconfig) AS c
        WHERE s.setrole = o.role_oid AND s.setdatabase = 0
          AND c LIKE 'session\_preload\_libraries=%'
          AND 'dbx_oauth' = ANY (ARRAY(SELECT btrim(x, ' "''') FROM unnest(string_to_array(substr(c, 27), ',')) AS x)));
    "check" := 'role_guard';
    IF n_bad = 0 THEN
        status := 'ok';
        detail := format('All %s OAuth role(s) carry session_preload_libraries = dbx_oauth.', (SELECT count(*) FROM dbx_oauth.roles));
        hint := NULL;
    ELSE
        status := 'error';
        detail := format('%s OAuth role(s) lack the session_preload_libraries guard: %s. Without the preloaded library they could log in on a trust line without a token.', n_bad, names);
        hint := 'Run ALTER ROLE <role> SET session_preload_libraries = ''dbx_oauth''; for each, or drop and re-create them with dbx_oauth.create_role.';
    END IF;
    RETURN NEXT;

    -- Labelled roles belong to dbx_oauth_users (else the hook does not ask
    -- them for a token); members of dbx_oauth_users carry a label.
    "check" := 'role_label';
    SELECT count(*), string_agg(format('%I', o.role_name), ', ' ORDER BY o.role_name)
    INTO n_bad, names
    FROM dbx_oauth.roles o
    WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'dbx_oauth_users')
               THEN NOT pg_has_role(o.role_oid, 'dbx_oauth_users', 'MEMBER') ELSE true END;
    IF n_bad > 0 THEN
        status := 'error';
        detail := format('%s role(s) have a dbx_oauth label but are not members of dbx_oauth_users, so trust lines let them in without a token: %s.', n_bad, names);
        hint := 'Run GRANT dbx_oauth_users TO <role>; for each.';
    ELSE
        SELECT count(*), string_agg(format('%I', m.rolname), ', ' ORDER BY m.rolname)
        INTO n_bad, names
        FROM pg_auth_members am
        JOIN pg_roles g ON g.oid = am.roleid AND g.rolname = 'dbx_oauth_users'
        JOIN pg_roles m ON m.oid = am.member
        WHERE NOT EXISTS (SELECT 1 FROM dbx_oauth.roles o WHERE o.role_oid = m.oid);
        IF n_bad > 0 THEN
            status := 'warning';
            detail := format('%s member(s) of dbx_oauth_users have no dbx_oauth label and are refused on trust lines (reason=not_an_oauth_role): %s.', n_bad, names);
            hint := 'Make OAuth roles with dbx_oauth.create_role; REVOKE dbx_oauth_users from other roles.';
        ELSE
            status := 'ok';
            detail := format('%s OAuth role(s), each labelled and a member of dbx_oauth_users.', (SELECT count(*) FROM dbx_oauth.roles));
            hint := NULL;
        END IF;
    END IF;
    RETURN NEXT;

    --------------------------------------------------------------- pg_hba
    -- pg_hba_file_rules shows the file on disk (what the next reload loads).
    -- OAuth roles are the labelled ones: an authenticator that was granted
    -- OAuth roles is a member of dbx_oauth_users too, but logs in with its
    -- own password on its own line (docs/pooling.md), which is no finding.
    -- A line "can match an OAuth role" when its user column is all,
    -- +dbx_oauth_users, an OAuth role, or +group of one, its database column
    -- is not only "replication", and no earlier line takes every OAuth
    -- connection it would see (same or wider type, database all, user all or
    -- +dbx_oauth_users, same or wider address).
    FOR r IN
        WITH oauth AS (
            SELECT o.role_oid AS oid, o.role_name AS name FROM dbx_oauth.roles o),
        lines AS (
            SELECT h.line_number, h.type, h.database, h.user_name, h.address, h.netmask, h.auth_method, h.error,
                   CASE WHEN h.netmask IS NOT NULL THEN host(h.address::inet & h.netmask::inet)::inet END AS first,
                   CASE WHEN h.netmask IS NOT NULL THEN host(h.address::inet | ~ h.netmask::inet)::inet END AS last
            FROM pg_hba_file_rules h),
        classified AS (
            SELECT l.*,
                   l.type <> 'local' AS tcp,
                   (l.address = 'localhost'
                    OR (l.first IS NOT NULL AND family(l.first) = 4
                        AND l.first <<= '127.0.0.0/8'::inet AND l.last <<= '127.0.0.0/8'::inet)
                    OR (l.first IS NOT NULL AND family(l.first) = 6
                        AND l.first = '::1'::inet AND l.last = '::1'::inet)) AS loopback,
                   (l.error IS NULL AND l.database <> ARRAY['replication']
                    AND EXISTS (SELECT 1 FROM unnest(l.user_name) AS u
                        WHERE u IN ('all', '+dbx_oauth_users')
                           OR u IN (SELECT name FROM oauth)
                           OR (u LIKE '+%' AND EXISTS (
                                SELECT 1 FROM oauth, pg_roles g
                                WHERE g.rolname = substr(u, 2) AND pg_has_role(oauth.oid, g.oid, 'MEMBER'))))) AS matches
            FROM lines l)
        SELECT c.*,
               EXISTS (SELECT 1 FROM classified e
                       WHERE e.line_number < c.line_number AND e.error IS NULL
                         AND e.database = ARRAY['all'] AND e.user_name && ARRAY['all', '+dbx_oauth_users']
                         AND (e.type = c.type OR (e.type = 'host' AND c.type <> 'local'))
                         AND (c.type = 'local' OR e.address = 'all'
                              OR (e.first IS NOT NULL AND c.first IS NOT NULL
                                  AND family(e.first) = family(c.first)
                                  AND e.first <= c.first AND c.last <= e.last))) AS shadowed
        FROM classified c
        ORDER BY c.line_number
    LOOP
        IF r.error IS NOT NULL THEN
            hba_errors := hba_errors || format('line %s', r.line_number);
            CONTINUE;
        END IF;
        IF NOT r.matches OR r.shadowed THEN
            CONTINUE;
        END IF;
        IF r.tcp THEN
            tcp_lines := tcp_lines || format('line %s', r.line_number);
        END IF;
        IF r.auth_method = 'trust' AND r.type IN ('host', 'hostnossl', 'hostgssenc', 'hostnogssenc') AND NOT require_ssl THEN
            IF r.loopback THEN
                trust_nossl_loopback := trust_nossl_loopback || format('line %s (%s)', r.line_number, r.type);
            ELSE
                trust_nossl_remote := trust_nossl_remote || format('line %s (%s %s)', r.line_number, r.type, r.address);
            END IF;
        ELSIF r.auth_method IN ('md5', 'scram-sha-256', 'password') THEN
            password_lines := password_lines || format('line %s (%s)', r.line_number, r.auth_method);
        ELSIF r.auth_method NOT IN ('trust', 'reject') THEN
            skipping_lines := skipping_lines || format('line %s (%s)', r.line_number, r.auth_method);
        END IF;
    END LOOP;

    "check" := 'hba_file';
    IF cardinality(hba_errors) = 0 THEN
        status := 'ok';
        detail := 'pg_hba.conf parses without errors.';
        hint := NULL;
    ELSE
        status := 'warning';
        detail := format('pg_hba.conf has errors on %s; a reload keeps the previous rules.', array_to_string(hba_errors, ', '));
        hint := 'See SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL;';
    END IF;
    RETURN NEXT;

    "check" := 'hba_trust_ssl';
    IF cardinality(trust_nossl_loopback) = 0 THEN
        status := 'ok';
        detail := CASE WHEN require_ssl
            THEN 'dbx_oauth.require_ssl is on: tokens are refused on TCP connections without SSL.'
            ELSE 'Every trust line that can match an OAuth role is local or hostssl.' END;
        hint := NULL;
    ELSE
        status := 'warning';
        detail := format('dbx_oauth.require_ssl is off and trust lines let OAuth roles send tokens over TCP without SSL from loopback addresses: %s.',
                         array_to_string(trust_nossl_loopback, ', '));
        hint := 'Use hostssl for these lines, or set dbx_oauth.require_ssl = on and reload.';
    END IF;
    RETURN NEXT;

    "check" := 'hba_trust_remote';
    IF cardinality(trust_nossl_remote) = 0 THEN
        status := 'ok';
        detail := 'No trust line admits OAuth roles from a non-loopback address without SSL.';
        hint := NULL;
    ELSE
        status := 'error';
        detail := format('dbx_oauth.require_ssl is off and trust lines admit OAuth roles from other hosts without SSL, so tokens cross the network in clear text: %s.',
                         array_to_string(trust_nossl_remote, ', '));
        hint := 'Change these lines to hostssl, or set dbx_oauth.require_ssl = on, and reload.';
    END IF;
    RETURN NEXT;

    -- Methods other than trust skip the token check (the hook acts on trust
    -- lines only); password methods matter only when an OAuth role has a
    -- password.
    SELECT string_agg(format('%I', a.rolname), ', ' ORDER BY a.rolname) INTO pw_roles
    FROM pg_authid a
    WHERE a.rolpassword IS NOT NULL
      AND EXISTS (SELECT 1 FROM dbx_oauth.roles o WHERE o.role_oid = a.oid);
    "check" := 'hba_method';
    IF cardinality(skipping_lines) > 0 THEN
        status := 'error';
        detail := format('These lines let OAuth roles in with a method that skips the token: %s.', array_to_string(skipping_lines, ', '));
        hint := 'Put a line "host[ssl] all +dbx_oauth_users ... trust" (or reject) before them, or narrow their user column.';
    ELSIF cardinality(password_lines) > 0 AND pw_roles IS NOT NULL THEN
        status := 'error';
        detail := format('OAuth role(s) %s have a password, and %s accept it instead of a token.', pw_roles, array_to_string(password_lines, ', '));
        hint := 'Run ALTER ROLE <role> PASSWORD NULL; for each.';
    ELSE
        status := 'ok';
        detail := 'Every pg_hba.conf line that can match an OAuth role uses trust (token checked) or reject.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'ssl';
    IF ssl_on OR cardinality(tcp_lines) = 0 OR NOT tcp_listening THEN
        status := 'ok';
        detail := CASE WHEN ssl_on THEN 'ssl is on.'
                       ELSE 'ssl is off, and no TCP line can match an OAuth role.' END;
        hint := NULL;
    ELSE
        status := 'error';
        detail := format('ssl is off but TCP lines can match OAuth roles (%s): hostssl lines never match and token logins over TCP are refused or unencrypted.',
                         array_to_string(tcp_lines, ', '));
        hint := 'Set ssl = on with ssl_cert_file and ssl_key_file, and reload.';
    END IF;
    RETURN NEXT;

    -------------------------------------------------------------- settings
    "check" := 'expired_session_action';
    val := coalesce((cfg->>'dbx_oauth.expired_session_action'), 'none');
    IF val = 'none' AND coalesce((cfg->>'dbx_oauth.max_session_age')::bigint, 259200) = 0 THEN
        status := 'warning';
        detail := 'expired_session_action is none and max_session_age is 0: a session outlives its token for ever, also after the identity was removed from Databricks.';
        hint := 'Set dbx_oauth.max_session_age (default 3d) or dbx_oauth.expired_session_action = terminate, and reload.';
    ELSE
        status := 'ok';
        detail := CASE WHEN val = 'none'
            THEN format('expired_session_action is none (Lakebase behaviour): sessions outlive their token up to max_session_age (%s s).',
                        coalesce((cfg->>'dbx_oauth.max_session_age'), '259200'))
            ELSE 'expired_session_action is terminate: sessions end when their token expires.' END;
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'allow_insecure_http';
    IF coalesce((cfg->>'dbx_oauth.allow_insecure_http'), 'off') = 'on' THEN
        status := 'warning';
        detail := 'allow_insecure_http is on: keys may be fetched over plain HTTP from loopback issuers (meant for tests).';
        hint := 'Set dbx_oauth.allow_insecure_http = off and reload.';
    ELSE
        status := 'ok';
        detail := 'Keys are fetched over HTTPS only.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'max_token_lifetime';
    val := coalesce((cfg->>'dbx_oauth.max_token_lifetime'), '86400');
    IF val::bigint > 86400 THEN
        status := 'warning';
        detail := format('max_token_lifetime is %s s: tokens valid for more than a day are accepted (Databricks access tokens live 1 hour).', val);
        hint := 'Set dbx_oauth.max_token_lifetime = ''24h'' or less and reload.';
    ELSE
        status := 'ok';
        detail := format('max_token_lifetime is %s s.', val);
        hint := NULL;
    END IF;
    RETURN NEXT;

END
$doctor$;
COMMENT ON FUNCTION dbx_oauth.doctor() IS
  'Configuration checks: preload, worker, issuers and keys, clock, audience, role guards and labels, pg_hba.conf lines, ssl, risky settings; status ok, warning or error';
REVOKE ALL ON FUNCTION dbx_oauth.doctor() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.doctor() TO pg_monitor;
