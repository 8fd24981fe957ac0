
-- The PostgreSQL 18 OAuth door: pg_hba.conf lines with method oauth, whose
-- bearer tokens PostgreSQL hands to a validator module (dbx_oauth itself,
-- oauth_validator_libraries = 'dbx_oauth').  doctor() calls doctor_oauth()
-- for its findings about those lines; it returns no row when no line uses
-- oauth (always so before PostgreSQL 18).  Lines come from hba_rules()
-- (70_doctor.sql), in matching order and named by file when included.

CREATE FUNCTION dbx_oauth.doctor_oauth(
    OUT "check" text, OUT status text, OUT detail text, OUT hint text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $doctor_oauth$
#variable_conflict use_column
DECLARE
    r record;
    n_lines integer := 0;
    foreign_validator text[] := '{}';
    unmapped text[] := '{}';
    validator text;
BEGIN
    -- Lines that can match an OAuth role, as doctor() decides it for trust
    -- lines: user column all, +dbx_oauth_users, an OAuth role or +group of one.
    FOR r IN
        SELECT h.label, h.options,
               (SELECT substr(o, 11) FROM unnest(h.options) AS o WHERE o LIKE 'validator=%' LIMIT 1) AS validator,
               coalesce('delegate_ident_mapping=true' = ANY (h.options), false) AS delegated,
               EXISTS (SELECT 1 FROM unnest(h.options) AS o WHERE o LIKE 'map=%') AS mapped
        FROM dbx_oauth.hba_rules() h
        WHERE h.error IS NULL AND h.auth_method = 'oauth'
          AND h.database <> ARRAY['replication']
          AND EXISTS (SELECT 1 FROM unnest(h.user_name) AS u
                      WHERE u IN ('all', '+dbx_oauth_users')
                         OR u IN (SELECT o.role_name FROM dbx_oauth.roles o)
                         OR (u LIKE '+%' AND EXISTS (
                              SELECT 1 FROM dbx_oauth.roles o, pg_roles g
                              WHERE g.rolname = substr(u, 2) AND pg_has_role(o.role_oid, g.oid, 'MEMBER'))))
        ORDER BY h.rule_order
    LOOP
        n_lines := n_lines + 1;
        -- PostgreSQL fills in the validator when oauth_validator_libraries
        -- names exactly one library.
        validator := regexp_replace(coalesce(r.validator, current_setting('oauth_validator_libraries', true), ''),
                                    '^\$libdir/', '');
        IF validator IS DISTINCT FROM 'dbx_oauth' THEN
            foreign_validator := foreign_validator || format('%s (validator %s)', r.label,
                                                             coalesce(nullif(validator, ''), 'none'));
        ELSIF NOT r.delegated AND NOT r.mapped THEN
            unmapped := unmapped || r.label;
        END IF;
    END LOOP;

    IF n_lines = 0 THEN
        RETURN;
    END IF;

    "check" := 'hba_oauth_validator';
    IF cardinality(foreign_validator) > 0 THEN
        status := 'error';
        detail := format('These oauth lines let OAuth roles in with a validator other than dbx_oauth, which does not apply the dbx_oauth identity rules: %s.',
                         array_to_string(foreign_validator, ', '));
        hint := 'Use validator=dbx_oauth on lines for OAuth roles (oauth_validator_libraries = ''dbx_oauth''), or narrow their user column.';
    ELSE
        status := 'ok';
        detail := format('%s oauth line(s) can match OAuth roles, all validated by dbx_oauth.', n_lines);
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'hba_oauth_mapping';
    IF cardinality(unmapped) > 0 THEN
        status := 'warning';
        detail := format('These oauth lines have neither delegate_ident_mapping=1 nor a map, so a token logs in only as the role named exactly like its identity (no group roles, role labels not checked): %s.',
                         array_to_string(unmapped, ', '));
        hint := 'Add delegate_ident_mapping=1 to let dbx_oauth apply the OAuth role rules, or a map=... with pg_ident.conf entries.';
    ELSE
        status := 'ok';
        detail := 'Every oauth line for OAuth roles delegates the role decision to dbx_oauth or names an ident map.';
        hint := NULL;
    END IF;
    RETURN NEXT;
END
$doctor_oauth$;
COMMENT ON FUNCTION dbx_oauth.doctor_oauth() IS
  'doctor() findings about pg_hba.conf lines with method oauth (PostgreSQL 18+): validator and identity mapping';
REVOKE ALL ON FUNCTION dbx_oauth.doctor_oauth() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.doctor_oauth() TO pg_monitor;
