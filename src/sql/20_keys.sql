
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
