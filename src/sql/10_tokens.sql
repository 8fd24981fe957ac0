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
