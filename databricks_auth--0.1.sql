/* databricks_auth: the Lakebase names, backed by dbx_oauth. */
\echo Use "CREATE EXTENSION databricks_auth CASCADE" to load this file. \quit

CREATE FUNCTION public.databricks_create_role(identity text, identity_type text)
RETURNS text
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT dbx_oauth.create_role(identity, identity_type) $$;
COMMENT ON FUNCTION public.databricks_create_role(text, text) IS
  'Lakebase-compatible name for dbx_oauth.create_role';
REVOKE ALL ON FUNCTION public.databricks_create_role(text, text) FROM PUBLIC;

CREATE VIEW public.databricks_list_roles AS
SELECT role_name, identity_type FROM dbx_oauth.roles;
COMMENT ON VIEW public.databricks_list_roles IS
  'Lakebase-compatible list of OAuth roles (role_name, identity_type)';
GRANT SELECT ON public.databricks_list_roles TO PUBLIC;
