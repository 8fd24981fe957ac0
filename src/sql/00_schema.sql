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
