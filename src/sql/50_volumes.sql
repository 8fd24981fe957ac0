-- Volume access policies with the Databricks AppKit files-plugin semantics
-- (docs/volume-policies.md).  Policies are JSON, validated when
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
