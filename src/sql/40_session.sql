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

-- Upgrade 0.1--0.2: from here on this file is new in 0.2 (the Makefile
-- copies it into the upgrade script).
-- set_token(token, true) as a procedure, for pooled pipelined transactions:
-- CALL is a utility statement (no planner, no executor start-up), so it
-- costs a transaction less than SELECT set_token(...) (docs/pooling.md).
-- Same C entry, same rules; always local, no as_role.
CREATE PROCEDURE dbx_oauth.set_token_local(token text)
AS 'MODULE_PATHNAME', 'dbx_oauth_set_token'
LANGUAGE C;
COMMENT ON PROCEDURE dbx_oauth.set_token_local(text) IS
  'Same as set_token(token, true): validates an end user''s token and switches to that identity''s role until the transaction ends';

-- current_identity() in a query that reads tables is planned as
-- (SELECT current_identity()): an InitPlan, evaluated once per execution,
-- so a policy written USING (owner = dbx_oauth.current_identity()) costs what
-- the wrapped form does (src/pg/session/identity_initplan.cpp).
CREATE FUNCTION dbx_oauth.current_identity_support(internal) RETURNS internal
AS 'MODULE_PATHNAME', 'dbx_oauth_current_identity_support'
LANGUAGE C STRICT;
ALTER FUNCTION dbx_oauth.current_identity() SUPPORT dbx_oauth.current_identity_support;
