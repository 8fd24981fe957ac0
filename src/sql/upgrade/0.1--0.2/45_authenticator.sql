
-- The authenticator: the one role whose sessions switch to end users with
-- set_token (docs/pooling.md).  Either a password role or, for an app that
-- logs in with its service principal's token, the SERVICE_PRINCIPAL OAuth
-- role named by dbx_oauth.authenticator_role.

CREATE FUNCTION dbx_oauth.grant_to_authenticator()
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $grant$
DECLARE
    auth text := current_setting('dbx_oauth.authenticator_role', true);
    r record;
BEGIN
    IF coalesce(auth, '') = '' THEN
        RAISE EXCEPTION 'dbx_oauth.authenticator_role is not set'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Set it in postgresql.conf and reload.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = auth) THEN
        RAISE EXCEPTION 'role "%" named by dbx_oauth.authenticator_role does not exist', auth
            USING ERRCODE = 'undefined_object';
    END IF;
    -- Every OAuth role but the authenticator itself, not yet granted to it
    -- directly, and not a member of it (the grant would be circular).
    FOR r IN
        SELECT o.role_name
        FROM dbx_oauth.roles o, pg_roles a
        WHERE a.rolname = auth
          AND o.role_oid <> a.oid
          AND NOT EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.roleid = o.role_oid AND m.member = a.oid)
          AND NOT pg_has_role(o.role_oid, a.oid, 'MEMBER')
        ORDER BY o.role_name
    LOOP
        -- From PostgreSQL 16 the grant says what it allows: SET (set_token and
        -- SET ROLE) without INHERIT, as create_role grants.
        IF current_setting('server_version_num')::int >= 160000 THEN
            EXECUTE format('GRANT %I TO %I WITH INHERIT FALSE, SET TRUE', r.role_name, auth);
        ELSE
            EXECUTE format('GRANT %I TO %I', r.role_name, auth);
        END IF;
        RETURN NEXT r.role_name;
    END LOOP;
END
$grant$;
COMMENT ON FUNCTION dbx_oauth.grant_to_authenticator() IS
  'Grants every OAuth role not yet granted to dbx_oauth.authenticator_role; returns their names';
REVOKE ALL ON FUNCTION dbx_oauth.grant_to_authenticator() FROM PUBLIC;

-- Which role may switch with set_token, and what would make it unsafe.
CREATE FUNCTION dbx_oauth.doctor_authenticator(
    OUT "check" text, OUT status text, OUT detail text, OUT hint text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $doctor$
#variable_conflict use_column
DECLARE
    auth text := coalesce(current_setting('dbx_oauth.authenticator_role', true), '');
    a record;
    kind text;
    flaws text[] := ARRAY[]::text[];
    n_missing bigint;
    names text;
BEGIN
    "check" := 'authenticator';
    IF auth = '' THEN
        status := 'ok';
        detail := 'dbx_oauth.authenticator_role is not set: create_role grants new roles to no one, and only password roles granted OAuth roles by hand may call set_token.';
        hint := NULL;
        RETURN NEXT;
        RETURN;
    END IF;
    SELECT r.oid, r.rolsuper, r.rolbypassrls, r.rolcanlogin, r.rolinherit,
           (SELECT o.identity_type FROM dbx_oauth.roles o WHERE o.role_oid = r.oid) AS label
    INTO a FROM pg_roles r WHERE r.rolname = auth;
    IF NOT FOUND THEN
        status := 'error';
        detail := format('Role %I named by dbx_oauth.authenticator_role does not exist: create_role fails for every other role.', auth);
        hint := format('Create it (for a service principal: SELECT dbx_oauth.create_role(%L, ''SERVICE_PRINCIPAL'');) or fix the setting.', auth);
        RETURN NEXT;
        RETURN;
    END IF;
    kind := CASE WHEN a.label IS NULL THEN 'a password role'
                 WHEN a.label = 'SERVICE_PRINCIPAL' THEN 'the service principal logging in with its own token'
                 ELSE format('a %s OAuth role', a.label) END;
    IF a.rolsuper THEN
        flaws := flaws || 'is a superuser (RLS does not apply to it, and it can become anyone)'::text;
    END IF;
    IF a.rolbypassrls THEN
        flaws := flaws || 'has BYPASSRLS (RLS does not apply to it)'::text;
    END IF;
    IF a.label IN ('USER', 'GROUP') THEN
        flaws := flaws || format('is a %s identity (only a password role or a SERVICE_PRINCIPAL may switch; a person''s login must never act for others)', a.label);
    END IF;
    IF NOT a.rolcanlogin THEN
        flaws := flaws || 'cannot log in'::text;
    END IF;
    IF cardinality(flaws) > 0 THEN
        status := 'error';
        detail := format('Authenticator %I (%s) %s.', auth, kind, array_to_string(flaws, '; '));
        hint := 'Use a dedicated SERVICE_PRINCIPAL OAuth role or a password role with LOGIN, NOSUPERUSER, NOBYPASSRLS, and point dbx_oauth.authenticator_role at it.';
    ELSIF a.rolinherit AND current_setting('server_version_num')::int < 160000 THEN
        -- before PostgreSQL 16 a grant's inheritance follows the member's INHERIT attribute
        status := 'warning';
        detail := format('Role %I (%s) may call set_token, and it inherits the privileges of every OAuth role granted to it without switching.', auth, kind);
        hint := format('Run ALTER ROLE %I NOINHERIT; and grant the app''s own tables to it directly.', auth);
    ELSE
        status := 'ok';
        detail := format('Role %I (%s) may call set_token; no other token-login session may switch identity.', auth, kind);
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'authenticator_grants';
    SELECT count(*), string_agg(format('%I', o.role_name), ', ' ORDER BY o.role_name)
    INTO n_missing, names
    FROM dbx_oauth.roles o
    WHERE o.role_oid <> a.oid AND NOT pg_has_role(a.oid, o.role_oid, 'MEMBER');
    IF n_missing > 0 THEN
        status := 'warning';
        detail := format('%s OAuth role(s) are not granted to %I, so set_token cannot switch to them: %s.', n_missing, auth, names);
        hint := 'Run SELECT dbx_oauth.grant_to_authenticator(); (roles created before the setting named the authenticator).';
    ELSE
        status := 'ok';
        detail := format('Every OAuth role is granted to %I.', auth);
        hint := NULL;
    END IF;
    RETURN NEXT;
END
$doctor$;
COMMENT ON FUNCTION dbx_oauth.doctor_authenticator() IS
  'Doctor checks of dbx_oauth.authenticator_role: which role may switch with set_token and whether it is safe';
REVOKE ALL ON FUNCTION dbx_oauth.doctor_authenticator() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.doctor_authenticator() TO pg_monitor;
