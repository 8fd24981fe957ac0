
-- ---------------------------------------------------------------------------
-- Revocation: take tokens back before they expire (docs/security-model.md,
-- "Revocation").  The table is the durable truth (it survives restarts and
-- replicates to standbys); shared memory holds a mirror that every login
-- and statement checks.  The functions change the mirror when the revoking
-- transaction commits; the revocation worker reloads it whenever
-- revocation_state.revision moves (on a standby: when replay moved it).

-- Roles are cluster-wide: the role may already exist (another database
-- installed the extension), and DROP EXTENSION leaves it, like
-- dbx_oauth_users, because other databases' revocations may still use it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'dbx_oauth_admin') THEN
        CREATE ROLE dbx_oauth_admin NOLOGIN;
    END IF;
END
$$;
COMMENT ON ROLE dbx_oauth_admin IS 'Members may revoke OAuth tokens and block identities (dbx_oauth.revoke_tokens and friends)';

CREATE TABLE dbx_oauth.revocation_entries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('identity-cutoff', 'identity-block', 'token')),
    identity text,
    issued_before timestamptz,
    token_key text,
    expires_at timestamptz,
    reason text,
    source text NOT NULL DEFAULT 'admin' CHECK (source IN ('admin', 'group_sync')),
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by text NOT NULL DEFAULT CURRENT_USER,
    CHECK (kind = 'token' OR identity IS NOT NULL),
    CHECK (kind <> 'identity-cutoff' OR issued_before IS NOT NULL),
    CHECK ((kind = 'token') = (token_key IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE UNIQUE INDEX revocation_entries_cutoff ON dbx_oauth.revocation_entries (pg_catalog.lower(identity))
    WHERE kind = 'identity-cutoff';
CREATE UNIQUE INDEX revocation_entries_block ON dbx_oauth.revocation_entries (pg_catalog.lower(identity), source)
    WHERE kind = 'identity-block';
CREATE UNIQUE INDEX revocation_entries_token ON dbx_oauth.revocation_entries (token_key)
    WHERE kind = 'token';
COMMENT ON TABLE dbx_oauth.revocation_entries IS
  'Revoked identities and tokens (read through the view dbx_oauth.revocations; changed only through the revocation functions)';
REVOKE ALL ON dbx_oauth.revocation_entries FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('dbx_oauth.revocation_entries', '');

-- One row; every change to revocation_entries moves revision, which is how
-- a standby's worker notices replayed changes.
CREATE TABLE dbx_oauth.revocation_state (
    revision bigint NOT NULL
);
INSERT INTO dbx_oauth.revocation_state VALUES (0);
COMMENT ON TABLE dbx_oauth.revocation_state IS
  'Revision of dbx_oauth.revocation_entries: moves with every change, so workers know when to reload';
REVOKE ALL ON dbx_oauth.revocation_state FROM PUBLIC;

CREATE VIEW dbx_oauth.revocations AS
    SELECT kind, identity, issued_before, token_key, expires_at, reason, source, created_at, created_by
    FROM dbx_oauth.revocation_entries;
COMMENT ON VIEW dbx_oauth.revocations IS
  'Revocations in force: identity cutoffs (revoke_tokens), identity blocks (block_identity) and single tokens (revoke_token, by jti or SHA-256, never the token itself)';
REVOKE ALL ON dbx_oauth.revocations FROM PUBLIC;
GRANT SELECT ON dbx_oauth.revocations TO dbx_oauth_admin;

-- The functions are not SECURITY DEFINER on purpose: they check the caller
-- (superuser or member of dbx_oauth_admin, else SQLSTATE 42501), which a
-- definer function could not see, and then write as their owner.
CREATE FUNCTION dbx_oauth.revoke_tokens(identity text, issued_before timestamptz DEFAULT pg_catalog.now(),
                                        reason text DEFAULT NULL)
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'dbx_oauth_revoke_tokens'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION dbx_oauth.revoke_tokens(text, timestamptz, text) IS
  'Sign out everywhere: refuses every token of the identity issued before the cutoff (or without iat); returns the cutoff in force';

CREATE FUNCTION dbx_oauth.block_identity(identity text, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'dbx_oauth_block_identity'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION dbx_oauth.block_identity(text, text) IS
  'Refuses every token of the identity until unblock_identity; true when the block is new';

CREATE FUNCTION dbx_oauth.unblock_identity(identity text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'dbx_oauth_unblock_identity'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION dbx_oauth.unblock_identity(text) IS
  'Lifts every block of the identity (an administrator''s and the group sync''s); true when one was lifted';

CREATE FUNCTION dbx_oauth.revoke_token(token text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'dbx_oauth_revoke_token'
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION dbx_oauth.revoke_token(text) IS
  'Refuses one valid token (by jti, else by SHA-256) until it expires; false when it had already expired';

CREATE FUNCTION dbx_oauth.revocation_mirror(OUT loaded boolean, OUT entries integer, OUT capacity integer,
                                            OUT overflowed boolean, OUT revision bigint)
AS 'MODULE_PATHNAME', 'dbx_oauth_revocation_mirror'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION dbx_oauth.revocation_mirror() IS
  'State of the shared-memory copy of the revocations: loaded, entries, capacity (dbx_oauth.max_revocations), overflowed, table revision loaded';

DO $$
DECLARE
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY['dbx_oauth.revoke_tokens(text, timestamptz, text)',
                              'dbx_oauth.block_identity(text, text)', 'dbx_oauth.unblock_identity(text)',
                              'dbx_oauth.revoke_token(text)', 'dbx_oauth.revocation_mirror()'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO dbx_oauth_admin', fn);
    END LOOP;
END
$$;

CREATE FUNCTION dbx_oauth.doctor_revocation()
RETURNS TABLE ("check" text, status text, detail text, hint text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $doctor_revocation$
DECLARE
    m record;
BEGIN
    SELECT * INTO m FROM dbx_oauth.revocation_mirror();
    "check" := 'revocations';
    IF NOT m.loaded THEN
        status := 'error';
        detail := 'The shared-memory copy of the revocations is not loaded: OAuth logins are refused (fail closed).';
        hint := 'Check that the dbx_oauth revocation worker runs and that dbx_oauth.database names this database.';
    ELSIF m.overflowed THEN
        status := 'error';
        detail := format('More revocations than dbx_oauth.max_revocations (%s) allows: OAuth logins are refused (fail closed).', m.capacity);
        hint := 'Raise dbx_oauth.max_revocations and restart, or remove revocations that are no longer needed.';
    ELSIF m.entries > m.capacity * 0.9 THEN
        status := 'warning';
        detail := format('%s of %s revocation entries in use.', m.entries, m.capacity);
        hint := 'Raise dbx_oauth.max_revocations and restart before it fills up.';
    ELSE
        status := 'ok';
        detail := format('%s of %s revocation entries in use.', m.entries, m.capacity);
        hint := NULL;
    END IF;
    RETURN NEXT;
END
$doctor_revocation$;
COMMENT ON FUNCTION dbx_oauth.doctor_revocation() IS
  'doctor() check of the revocation mirror: loaded, not over dbx_oauth.max_revocations';
REVOKE ALL ON FUNCTION dbx_oauth.doctor_revocation() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.doctor_revocation() TO pg_monitor;
