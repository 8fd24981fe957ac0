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
