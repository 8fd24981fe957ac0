
-- The configuration doctor: one row per finding, (check, status, detail,
-- hint) with status ok | warning | error.  It reads pg_hba_file_rules (the
-- pg_hba.conf on disk, superuser-only), pg_settings, pg_db_role_setting,
-- the role labels and the key-refresh worker's status, so it runs as the
-- extension owner (SECURITY DEFINER) and is granted to pg_monitor only.
-- It prints no token, secret or password: only names, line numbers, counts,
-- times and setting values.  At startup a one-shot worker runs it in
-- dbx_oauth.database and logs a WARNING per error (src/pg/login/doctor_startup.cpp).

CREATE FUNCTION dbx_oauth.key_worker_pid()
RETURNS integer
AS 'MODULE_PATHNAME', 'dbx_oauth_key_worker_pid'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION dbx_oauth.key_worker_pid() IS
  'Process id of the key-refresh worker, NULL when it is not running';
REVOKE ALL ON FUNCTION dbx_oauth.key_worker_pid() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.key_worker_pid() TO pg_monitor;

-- Upgrade 0.1--0.2: from here on this file is new or changed in 0.2 (the
-- Makefile copies it into the upgrade script): hba_rules(), doctor_security()
-- and doctor()'s rewritten body, which also returns the per-area checks of
-- doctor_authenticator(), doctor_groups(), doctor_oauth() and doctor_revocation().

-- pg_hba.conf rules in the order PostgreSQL tries them, for the doctor
-- checks.  From PostgreSQL 16 on pg_hba.conf can include other files, so a
-- line number is no longer unique nor in matching order: rule_order is the
-- rule_number 16 added (the line number before 16, when there was one file),
-- and label names the line for messages ("line 3", or "line 3 of FILE" in an
-- included file).  Error rows have no rule_number and keep their line
-- number.  Columns that differ by version are read by name through to_jsonb
-- so the same text runs on every version.
CREATE FUNCTION dbx_oauth.hba_rules(
    OUT rule_order integer, OUT label text, OUT line_number integer, OUT type text,
    OUT database text[], OUT user_name text[], OUT address text, OUT netmask text,
    OUT auth_method text, OUT options text[], OUT error text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $hba_rules$
    SELECT coalesce((j->>'rule_number')::integer, h.line_number),
           CASE WHEN j->>'file_name' IS NULL OR j->>'file_name' = current_setting('hba_file')
                THEN format('line %s', h.line_number)
                ELSE format('line %s of %s', h.line_number, j->>'file_name') END,
           h.line_number, h.type, h.database, h.user_name, h.address, h.netmask,
           h.auth_method, h.options, h.error
    FROM pg_hba_file_rules h, LATERAL to_jsonb(h) AS j
$hba_rules$;
COMMENT ON FUNCTION dbx_oauth.hba_rules() IS
  'pg_hba.conf rules in matching order with a label per line (included files named), for doctor()';
REVOKE ALL ON FUNCTION dbx_oauth.hba_rules() FROM PUBLIC;

-- Findings about who can get in without a token (docs/security-model.md):
-- trust lines that admit roles the token check never sees, trust lines for
-- replication, OAuth roles holding SUPERUSER/REPLICATION/BYPASSRLS, a
-- dbx_oauth_users group that can log in, and admins locked out of trust
-- lines by an OAuth role granted to them.  Reads every pg_hba.conf line.
CREATE FUNCTION dbx_oauth.doctor_security(
    OUT "check" text, OUT status text, OUT detail text, OUT hint text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $doctor_security$
#variable_conflict use_column
DECLARE
    users_oid oid := (SELECT g.oid FROM pg_roles g WHERE g.rolname = 'dbx_oauth_users');
    open_remote text;
    open_loopback text;
    repl_remote text;
    repl_local text;
    names text;
    authenticator text := coalesce(current_setting('dbx_oauth.authenticator_role', true), '');
BEGIN
    -- Lines in matching order from hba_rules() (included files on 16+).  A user
    -- entry is covered by the token check when every role it can admit is a
    -- member of dbx_oauth_users (the hook then asks for a token or refuses);
    -- "+group" and names are resolved like pg_hba.conf does (superusers are
    -- not members by default), anything else (all, regular expressions,
    -- unknown names) can admit other roles.
    WITH lines AS (
        SELECT h.rule_order, h.label, h.type, h.database, h.user_name, h.address, h.netmask, h.auth_method,
               CASE WHEN h.netmask IS NOT NULL THEN host(h.address::inet & h.netmask::inet)::inet END AS first,
               CASE WHEN h.netmask IS NOT NULL THEN host(h.address::inet | ~ h.netmask::inet)::inet END AS last
        FROM dbx_oauth.hba_rules() h
        WHERE h.error IS NULL AND h.auth_method = 'trust'),
    classified AS (
        SELECT l.*,
               (l.address = 'localhost'
                OR (l.first IS NOT NULL AND family(l.first) = 4
                    AND l.first <<= '127.0.0.0/8'::inet AND l.last <<= '127.0.0.0/8'::inet)
                OR (l.first IS NOT NULL AND family(l.first) = 6
                    AND l.first = '::1'::inet AND l.last = '::1'::inet)) AS loopback,
               EXISTS (SELECT 1 FROM unnest(l.user_name) AS u
                       LEFT JOIN pg_roles r ON r.rolname = CASE WHEN u LIKE '+%' THEN substr(u, 2) ELSE u END
                       WHERE u <> '+dbx_oauth_users'
                         AND (r.oid IS NULL OR r.rolsuper OR users_oid IS NULL
                              OR NOT pg_has_role(r.oid, users_oid, 'MEMBER'))) AS admits_others
        FROM lines l)
    SELECT string_agg(format('%s (%s %s %s)', c.label, c.type, array_to_string(c.user_name, ','), c.address), ', '
                      ORDER BY c.rule_order) FILTER (WHERE NOT c.loopback AND c.database <> ARRAY['replication']),
           string_agg(format('%s (%s %s %s)', c.label, c.type, array_to_string(c.user_name, ','), c.address), ', '
                      ORDER BY c.rule_order) FILTER (WHERE c.loopback AND c.database <> ARRAY['replication'])
    INTO open_remote, open_loopback
    FROM classified c
    WHERE c.type <> 'local' AND c.admits_others;

    "check" := 'hba_trust_open';
    IF open_remote IS NOT NULL THEN
        status := 'error';
        detail := format('Trust lines let roles that are not OAuth roles in from other hosts with no password and no token: %s.', open_remote);
        hint := 'Use trust only for "+dbx_oauth_users" (the token is checked); give other roles scram-sha-256 or reject, and reload.';
    ELSIF open_loopback IS NOT NULL THEN
        status := 'warning';
        detail := format('Trust lines let roles that are not OAuth roles in from this host with no password and no token: %s.', open_loopback);
        hint := 'Use trust only for "+dbx_oauth_users" (the token is checked); give other roles scram-sha-256 or peer, and reload.';
    ELSE
        status := 'ok';
        detail := 'Every TCP trust line admits OAuth roles only, whose token is checked.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    -- Physical replication connections match only lines naming replication
    -- (a walsender never runs the session_preload_libraries guard).
    SELECT string_agg(format('%s (%s)', h.label, h.type), ', ' ORDER BY h.rule_order)
               FILTER (WHERE h.type <> 'local'),
           string_agg(format('%s (%s)', h.label, h.type), ', ' ORDER BY h.rule_order)
               FILTER (WHERE h.type = 'local')
    INTO repl_remote, repl_local
    FROM dbx_oauth.hba_rules() h
    WHERE h.error IS NULL AND h.auth_method = 'trust' AND 'replication' = ANY (h.database);
    "check" := 'hba_replication';
    IF repl_remote IS NOT NULL THEN
        status := 'error';
        detail := format('Trust lines admit replication connections over TCP with no password: %s.', repl_remote);
        hint := 'Use scram-sha-256 or cert for replication lines, never trust, and reload.';
    ELSIF repl_local IS NOT NULL THEN
        status := 'warning';
        detail := format('Trust lines admit replication connections on the local socket with no password: %s.', repl_local);
        hint := 'Use peer or scram-sha-256 for replication lines, never trust, and reload.';
    ELSE
        status := 'ok';
        detail := 'No trust line admits replication connections.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    -- OAuth roles: dbx_oauth_users and its members (explicit membership,
    -- as pg_hba.conf's "+dbx_oauth_users" sees it), and labelled roles.
    WITH RECURSIVE members(oid) AS (
        SELECT users_oid WHERE users_oid IS NOT NULL
        UNION
        SELECT am.member FROM pg_auth_members am JOIN members m ON am.roleid = m.oid),
    oauth AS (
        SELECT oid FROM members UNION SELECT o.role_oid FROM dbx_oauth.roles o)
    SELECT string_agg(format('%I (%s)', a.rolname,
                             concat_ws(', ', CASE WHEN a.rolsuper THEN 'SUPERUSER' END,
                                       CASE WHEN a.rolreplication THEN 'REPLICATION' END,
                                       CASE WHEN a.rolbypassrls THEN 'BYPASSRLS' END)), ', ' ORDER BY a.rolname)
    INTO names
    FROM pg_roles a JOIN oauth ON oauth.oid = a.oid
    WHERE a.rolsuper OR a.rolreplication OR a.rolbypassrls;
    "check" := 'role_privileges';
    IF names IS NOT NULL THEN
        status := 'error';
        detail := format('OAuth roles hold privileges that bypass RLS or the token check (a replication connection while the library is not loaded needs no token): %s.', names);
        hint := 'Run ALTER ROLE <role> NOSUPERUSER NOREPLICATION NOBYPASSRLS; or REVOKE the OAuth role or dbx_oauth_users from it.';
    ELSE
        status := 'ok';
        detail := 'No OAuth role holds SUPERUSER, REPLICATION or BYPASSRLS.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'oauth_users_login';
    IF EXISTS (SELECT 1 FROM pg_roles g WHERE g.oid = users_oid AND g.rolcanlogin) THEN
        status := 'error';
        detail := 'The group dbx_oauth_users can log in: it matches "+dbx_oauth_users" trust lines, yet no token can name it (the login hook refuses it).';
        hint := 'Run ALTER ROLE dbx_oauth_users NOLOGIN;';
    ELSE
        status := 'ok';
        detail := 'dbx_oauth_users cannot log in.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    -- Indirect members without a label (granted an OAuth role, typically an
    -- admin) are refused on every trust line.  Roles with a password log in
    -- on password lines, as the pool's authenticator does by design
    -- (docs/pooling.md): no finding for them.
    WITH RECURSIVE members(oid, depth) AS (
        SELECT am.member, 1 FROM pg_auth_members am WHERE am.roleid = users_oid
        UNION
        SELECT am.member, m.depth + 1 FROM pg_auth_members am JOIN members m ON am.roleid = m.oid
        WHERE m.depth < 64)
    SELECT string_agg(DISTINCT format('%I', r.rolname), ', ')
    INTO names
    FROM members m JOIN pg_authid r ON r.oid = m.oid
    WHERE m.depth > 1
      AND r.rolcanlogin AND r.rolpassword IS NULL
      AND r.rolname <> authenticator
      AND NOT EXISTS (SELECT 1 FROM dbx_oauth.roles o WHERE o.role_oid = m.oid)
      AND NOT EXISTS (SELECT 1 FROM pg_auth_members d WHERE d.roleid = users_oid AND d.member = m.oid);
    "check" := 'role_indirect';
    IF names IS NOT NULL THEN
        status := 'warning';
        detail := format('Roles without a dbx_oauth label are members of dbx_oauth_users through an OAuth role they were granted, so every trust line refuses them (reason=not_an_oauth_role): %s.', names);
        hint := 'REVOKE the OAuth role from them (grant its privileges through an ordinary group instead), or give them a password and a password line placed before the trust lines.';
    ELSE
        status := 'ok';
        detail := 'No unlabelled login role without a password is an indirect member of dbx_oauth_users.';
        hint := NULL;
    END IF;
    RETURN NEXT;
END
$doctor_security$;
COMMENT ON FUNCTION dbx_oauth.doctor_security() IS
  'Part of doctor(): trust lines admitting other roles, replication trust lines, privileged OAuth roles, dbx_oauth_users LOGIN, locked-out indirect members';
REVOKE ALL ON FUNCTION dbx_oauth.doctor_security() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.doctor_security() TO pg_monitor;

CREATE FUNCTION dbx_oauth.doctor(
    OUT "check" text, OUT status text, OUT detail text, OUT hint text)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $doctor$
#variable_conflict use_column
DECLARE
    cfg jsonb;  -- pg_settings.setting by name (raw numbers in the unit); no placeholders
    loaded boolean;
    preload_listed boolean;
    require_ssl boolean;
    ssl_on boolean;
    tcp_listening boolean;
    issuer_list text[];
    iss text;
    ws record;
    key_n bigint;
    file_keys bigint;
    worker_pid integer;
    refresh_s bigint;
    skew_s bigint;
    offset_s double precision;
    val text;
    n_bad bigint;
    names text;
    r record;
    -- pg_hba.conf findings: "line N" lists
    hba_errors text[] := '{}';
    trust_nossl_loopback text[] := '{}';
    trust_nossl_remote text[] := '{}';
    skipping_lines text[] := '{}';
    password_lines text[] := '{}';
    tcp_lines text[] := '{}';
    pw_roles text;
BEGIN
    -- Settings as pg_settings shows them.  A placeholder (library not
    -- loaded) is not in pg_settings: NULL, and the default is assumed.
    cfg := (SELECT jsonb_object_agg(s.name, s.setting) FROM pg_settings s
            WHERE s.name LIKE 'dbx\_oauth.%' OR s.name IN ('ssl', 'listen_addresses'));

    ---------------------------------------------------------------- preload
    preload_listed := EXISTS (
        SELECT 1
        FROM unnest(string_to_array(current_setting('shared_preload_libraries'), ',')) AS lib
        WHERE btrim(lib, ' "''') IN ('dbx_oauth', '$libdir/dbx_oauth'));
    loaded := cfg ? 'dbx_oauth.issuers';
    "check" := 'preload';
    IF preload_listed AND loaded THEN
        status := 'ok';
        detail := 'dbx_oauth is in shared_preload_libraries and loaded.';
        hint := NULL;
    ELSE
        status := 'error';
        detail := CASE WHEN preload_listed
            THEN 'dbx_oauth is in shared_preload_libraries but the server has not loaded it yet.'
            ELSE 'dbx_oauth is not in shared_preload_libraries: token logins are not checked, and OAuth roles are refused by their session_preload_libraries guard.' END;
        hint := 'Set shared_preload_libraries = ''dbx_oauth'' in postgresql.conf and restart the server.';
    END IF;
    RETURN NEXT;

    require_ssl := coalesce((cfg->>'dbx_oauth.require_ssl'), 'on') = 'on';
    ssl_on := (cfg->>'ssl') = 'on';
    tcp_listening := btrim(cfg->>'listen_addresses') <> '';

    ---------------------------------------------------------------- issuers
    issuer_list := ARRAY(
        SELECT btrim(x) FROM unnest(string_to_array(
            coalesce((cfg->>'dbx_oauth.issuers'), ''), ',')) AS x
        WHERE btrim(x) <> '');
    "check" := 'issuers';
    IF cardinality(issuer_list) > 0 THEN
        status := 'ok';
        detail := format('%s issuer(s) configured: %s.', cardinality(issuer_list), array_to_string(issuer_list, ', '));
        hint := NULL;
    ELSE
        status := 'error';
        detail := 'dbx_oauth.issuers is empty: no token can be accepted.';
        hint := 'Set dbx_oauth.issuers to your workspace issuer, e.g. ''https://<workspace-host>/oidc'', and reload.';
    END IF;
    RETURN NEXT;

    ---------------------------------------------------- worker, keys, clock
    IF loaded THEN
        worker_pid := dbx_oauth.key_worker_pid();
        "check" := 'worker';
        IF worker_pid IS NOT NULL THEN
            status := 'ok';
            detail := format('The key-refresh worker is running (pid %s).', worker_pid);
            hint := NULL;
        ELSE
            status := 'error';
            detail := 'The key-refresh worker is not running: keys are not refreshed and unknown key ids are not looked up.';
            hint := 'Look for "dbx_oauth key refresh worker" in the server log, check max_worker_processes, and restart the server.';
        END IF;
        RETURN NEXT;

        refresh_s := coalesce((cfg->>'dbx_oauth.jwks_refresh_interval')::bigint, 900);
        skew_s := coalesce((cfg->>'dbx_oauth.clock_skew')::bigint, 60);
        SELECT count(*) INTO file_keys FROM dbx_oauth.keys() k WHERE k.issuer = '*';

        FOREACH iss IN ARRAY issuer_list LOOP
            SELECT * INTO ws FROM dbx_oauth.worker_status() w WHERE w.issuer = iss;
            SELECT count(*) INTO key_n FROM dbx_oauth.keys() k WHERE k.issuer = iss;

            "check" := 'issuer_keys';
            IF key_n + file_keys > 0 THEN
                status := 'ok';
                detail := format('Issuer %s: %s key(s) from the issuer, %s from dbx_oauth.jwks_file.', iss, key_n, file_keys);
                hint := NULL;
            ELSIF ws.last_attempt IS NULL AND worker_pid IS NOT NULL THEN
                status := 'warning';
                detail := format('Issuer %s: no signing keys yet; the worker has not tried to fetch them.', iss);
                hint := 'Wait a few seconds, or run SELECT dbx_oauth.refresh_keys(); as a superuser.';
            ELSE
                status := 'error';
                detail := format('Issuer %s: no signing keys, so every token of this issuer is refused (reason=no_keys).%s',
                                 iss, CASE WHEN ws.last_error IS NOT NULL THEN ' Last error: ' || ws.last_error ELSE '' END);
                hint := 'Check that the server can reach the issuer over HTTPS (dbx_oauth.ca_file, proxies, DNS); see SELECT * FROM dbx_oauth.worker_status().';
            END IF;
            RETURN NEXT;

            "check" := 'key_refresh';
            hint := 'See SELECT * FROM dbx_oauth.worker_status(); and "dbx_oauth" lines in the server log; the last good keys stay in use meanwhile.';
            IF ws.issuer IS NULL OR ws.last_attempt IS NULL THEN
                status := CASE WHEN worker_pid IS NULL THEN 'error' ELSE 'warning' END;
                detail := format('Issuer %s: the worker has not fetched keys yet.', iss);
            ELSIF ws.consecutive_failures > 0 THEN
                status := 'warning';
                detail := format('Issuer %s: the last %s refresh(es) failed: %s; last success %s.', iss,
                                 ws.consecutive_failures, coalesce(ws.last_error, 'unknown error'),
                                 coalesce(date_trunc('second', now() - ws.last_success)::text || ' ago', 'never'));
            ELSIF ws.last_success < now() - make_interval(secs => 2 * refresh_s + 60) THEN
                status := 'warning';
                detail := format('Issuer %s: keys last refreshed %s ago (dbx_oauth.jwks_refresh_interval is %s s).', iss,
                                 date_trunc('second', now() - ws.last_success), refresh_s);
            ELSE
                status := 'ok';
                detail := format('Issuer %s: keys refreshed %s ago.', iss, date_trunc('second', now() - ws.last_success));
                hint := NULL;
            END IF;
            RETURN NEXT;
        END LOOP;

        -- Clock sanity needs the issuer's Date header as the worker saw it:
        -- worker_status().clock_offset (issuer Date minus server time).
        "check" := 'clock';
        IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace ns ON ns.oid = p.pronamespace
                   WHERE ns.nspname = 'dbx_oauth' AND p.proname = 'worker_status'
                     AND 'clock_offset' = ANY (p.proargnames)) THEN
            offset_s := NULL;
            names := NULL;
            FOR r IN EXECUTE 'SELECT issuer, extract(epoch FROM clock_offset)::float8 AS s
                              FROM dbx_oauth.worker_status() WHERE clock_offset IS NOT NULL AND issuer <> ''*''' LOOP
                IF offset_s IS NULL OR abs(r.s) > abs(offset_s) THEN
                    offset_s := r.s;
                    names := r.issuer;
                END IF;
            END LOOP;
            IF offset_s IS NULL THEN
                status := 'warning';
                detail := 'Not measured yet: no issuer has answered the worker with a Date header.';
                hint := 'Fix the key_refresh findings first.';
            ELSIF abs(offset_s) > skew_s THEN
                status := 'error';
                detail := format('The server clock is %s s %s the clock of issuer %s, more than dbx_oauth.clock_skew (%s s): valid tokens are refused as expired or not yet valid.',
                                 round(abs(offset_s)), CASE WHEN offset_s > 0 THEN 'behind' ELSE 'ahead of' END, names, skew_s);
                hint := 'Synchronise the server clock (chrony or systemd-timesyncd).';
            ELSIF abs(offset_s) > 5 THEN
                status := 'warning';
                detail := format('The server clock is %s s %s the clock of issuer %s.', round(abs(offset_s)),
                                 CASE WHEN offset_s > 0 THEN 'behind' ELSE 'ahead of' END, names);
                hint := 'Synchronise the server clock (chrony or systemd-timesyncd).';
            ELSE
                status := 'ok';
                detail := format('The server clock is within %s s of every issuer.', greatest(1, round(abs(offset_s))));
                hint := NULL;
            END IF;
        ELSE
            status := 'warning';
            detail := 'Not measured: this build''s key-refresh worker does not report the issuer''s Date header.';
            hint := 'Keep the server clock synchronised (chrony or systemd-timesyncd); tokens are checked with dbx_oauth.clock_skew leeway.';
        END IF;
        RETURN NEXT;
    END IF;

    ---------------------------------------------------------------- audience
    "check" := 'audience';
    val := coalesce((cfg->>'dbx_oauth.audience'), '');
    IF btrim(val) <> '' THEN
        status := 'ok';
        detail := format('Tokens must carry the audience %s.', val);
        hint := NULL;
    ELSE
        status := 'warning';
        detail := 'dbx_oauth.audience is empty: a token issued by a trusted issuer for any audience is accepted.';
        hint := 'Set dbx_oauth.audience to your workspace id and reload.';
    END IF;
    RETURN NEXT;

    ------------------------------------------------------------------ roles
    -- Every labelled role carries the session_preload_libraries guard.
    SELECT count(*), string_agg(format('%I', o.role_name), ', ' ORDER BY o.role_name)
    INTO n_bad, names
    FROM dbx_oauth.roles o
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_db_role_setting s, unnest(s.setconfig) AS c
        WHERE s.setrole = o.role_oid AND s.setdatabase = 0
          AND c LIKE 'session\_preload\_libraries=%'
          AND 'dbx_oauth' = ANY (ARRAY(SELECT btrim(x, ' "''') FROM unnest(string_to_array(substr(c, 27), ',')) AS x)));
    "check" := 'role_guard';
    IF n_bad = 0 THEN
        status := 'ok';
        detail := format('All %s OAuth role(s) carry session_preload_libraries = dbx_oauth.', (SELECT count(*) FROM dbx_oauth.roles));
        hint := NULL;
    ELSE
        status := 'error';
        detail := format('%s OAuth role(s) lack the session_preload_libraries guard: %s. Without the preloaded library they could log in on a trust line without a token.', n_bad, names);
        hint := 'Run ALTER ROLE <role> SET session_preload_libraries = ''dbx_oauth''; for each, or drop and re-create them with dbx_oauth.create_role.';
    END IF;
    RETURN NEXT;

    -- Labelled roles belong to dbx_oauth_users (else the hook does not ask
    -- them for a token); members of dbx_oauth_users carry a label.
    "check" := 'role_label';
    SELECT count(*), string_agg(format('%I', o.role_name), ', ' ORDER BY o.role_name)
    INTO n_bad, names
    FROM dbx_oauth.roles o
    WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'dbx_oauth_users')
               THEN NOT pg_has_role(o.role_oid, 'dbx_oauth_users', 'MEMBER') ELSE true END;
    IF n_bad > 0 THEN
        status := 'error';
        detail := format('%s role(s) have a dbx_oauth label but are not members of dbx_oauth_users, so trust lines let them in without a token: %s.', n_bad, names);
        hint := 'Run GRANT dbx_oauth_users TO <role>; for each.';
    ELSE
        SELECT count(*), string_agg(format('%I', m.rolname), ', ' ORDER BY m.rolname)
        INTO n_bad, names
        FROM pg_auth_members am
        JOIN pg_roles g ON g.oid = am.roleid AND g.rolname = 'dbx_oauth_users'
        JOIN pg_roles m ON m.oid = am.member
        WHERE NOT EXISTS (SELECT 1 FROM dbx_oauth.roles o WHERE o.role_oid = m.oid);
        IF n_bad > 0 THEN
            status := 'warning';
            detail := format('%s member(s) of dbx_oauth_users have no dbx_oauth label and are refused on trust lines (reason=not_an_oauth_role): %s.', n_bad, names);
            hint := 'Make OAuth roles with dbx_oauth.create_role; REVOKE dbx_oauth_users from other roles.';
        ELSE
            status := 'ok';
            detail := format('%s OAuth role(s), each labelled and a member of dbx_oauth_users.', (SELECT count(*) FROM dbx_oauth.roles));
            hint := NULL;
        END IF;
    END IF;
    RETURN NEXT;

    --------------------------------------------------------------- pg_hba
    -- pg_hba_file_rules shows the file on disk (what the next reload loads).
    -- OAuth roles are the labelled ones: an authenticator that was granted
    -- OAuth roles is a member of dbx_oauth_users too, but logs in with its
    -- own password on its own line (docs/pooling.md), which is no finding.
    -- A line "can match an OAuth role" when its user column is all,
    -- +dbx_oauth_users, an OAuth role, or +group of one, its database column
    -- is not only "replication", and no earlier line takes every OAuth
    -- connection it would see (same or wider type, database all, user all or
    -- +dbx_oauth_users, same or wider address).
    FOR r IN
        WITH oauth AS (
            SELECT o.role_oid AS oid, o.role_name AS name FROM dbx_oauth.roles o),
        lines AS (
            SELECT h.rule_order, h.label, h.type, h.database, h.user_name, h.address, h.netmask, h.auth_method, h.error,
                   CASE WHEN h.netmask IS NOT NULL THEN host(h.address::inet & h.netmask::inet)::inet END AS first,
                   CASE WHEN h.netmask IS NOT NULL THEN host(h.address::inet | ~ h.netmask::inet)::inet END AS last
            FROM dbx_oauth.hba_rules() h),
        classified AS (
            SELECT l.*,
                   l.type <> 'local' AS tcp,
                   (l.address = 'localhost'
                    OR (l.first IS NOT NULL AND family(l.first) = 4
                        AND l.first <<= '127.0.0.0/8'::inet AND l.last <<= '127.0.0.0/8'::inet)
                    OR (l.first IS NOT NULL AND family(l.first) = 6
                        AND l.first = '::1'::inet AND l.last = '::1'::inet)) AS loopback,
                   (l.error IS NULL AND l.database <> ARRAY['replication']
                    AND EXISTS (SELECT 1 FROM unnest(l.user_name) AS u
                        WHERE u IN ('all', '+dbx_oauth_users')
                           OR u IN (SELECT name FROM oauth)
                           OR (u LIKE '+%' AND EXISTS (
                                SELECT 1 FROM oauth, pg_roles g
                                WHERE g.rolname = substr(u, 2) AND pg_has_role(oauth.oid, g.oid, 'MEMBER'))))) AS matches
            FROM lines l)
        SELECT c.*,
               EXISTS (SELECT 1 FROM classified e
                       WHERE e.rule_order < c.rule_order AND e.error IS NULL
                         AND e.database = ARRAY['all'] AND e.user_name && ARRAY['all', '+dbx_oauth_users']
                         AND (e.type = c.type OR (e.type = 'host' AND c.type <> 'local'))
                         AND (c.type = 'local' OR e.address = 'all'
                              OR (e.first IS NOT NULL AND c.first IS NOT NULL
                                  AND family(e.first) = family(c.first)
                                  AND e.first <= c.first AND c.last <= e.last))) AS shadowed
        FROM classified c
        ORDER BY c.rule_order
    LOOP
        IF r.error IS NOT NULL THEN
            hba_errors := hba_errors || r.label;
            CONTINUE;
        END IF;
        IF NOT r.matches OR r.shadowed THEN
            CONTINUE;
        END IF;
        IF r.tcp THEN
            tcp_lines := tcp_lines || r.label;
        END IF;
        IF r.auth_method = 'trust' AND r.type IN ('host', 'hostnossl', 'hostgssenc', 'hostnogssenc') AND NOT require_ssl THEN
            IF r.loopback THEN
                trust_nossl_loopback := trust_nossl_loopback || format('%s (%s)', r.label, r.type);
            ELSE
                trust_nossl_remote := trust_nossl_remote || format('%s (%s %s)', r.label, r.type, r.address);
            END IF;
        ELSIF r.auth_method IN ('md5', 'scram-sha-256', 'password') THEN
            password_lines := password_lines || format('%s (%s)', r.label, r.auth_method);
        ELSIF r.auth_method NOT IN ('trust', 'reject', 'oauth') THEN
            skipping_lines := skipping_lines || format('%s (%s)', r.label, r.auth_method);
        END IF;
    END LOOP;

    "check" := 'hba_file';
    IF cardinality(hba_errors) = 0 THEN
        status := 'ok';
        detail := 'pg_hba.conf parses without errors.';
        hint := NULL;
    ELSE
        status := 'warning';
        detail := format('pg_hba.conf has errors on %s; a reload keeps the previous rules.', array_to_string(hba_errors, ', '));
        hint := 'See SELECT line_number, error FROM pg_hba_file_rules WHERE error IS NOT NULL;';
    END IF;
    RETURN NEXT;

    "check" := 'hba_trust_ssl';
    IF cardinality(trust_nossl_loopback) = 0 THEN
        status := 'ok';
        detail := CASE WHEN require_ssl
            THEN 'dbx_oauth.require_ssl is on: tokens are refused on TCP connections without SSL.'
            ELSE 'Every trust line that can match an OAuth role is local or hostssl.' END;
        hint := NULL;
    ELSE
        status := 'warning';
        detail := format('dbx_oauth.require_ssl is off and trust lines let OAuth roles send tokens over TCP without SSL from loopback addresses: %s.',
                         array_to_string(trust_nossl_loopback, ', '));
        hint := 'Use hostssl for these lines, or set dbx_oauth.require_ssl = on and reload.';
    END IF;
    RETURN NEXT;

    "check" := 'hba_trust_remote';
    IF cardinality(trust_nossl_remote) = 0 THEN
        status := 'ok';
        detail := 'No trust line admits OAuth roles from a non-loopback address without SSL.';
        hint := NULL;
    ELSE
        status := 'error';
        detail := format('dbx_oauth.require_ssl is off and trust lines admit OAuth roles from other hosts without SSL, so tokens cross the network in clear text: %s.',
                         array_to_string(trust_nossl_remote, ', '));
        hint := 'Change these lines to hostssl, or set dbx_oauth.require_ssl = on, and reload.';
    END IF;
    RETURN NEXT;

    -- Methods other than trust skip the token check (the hook acts on trust
    -- lines only; oauth lines validate the token themselves and are
    -- doctor_oauth()'s); password methods matter only when an OAuth role has
    -- a password.
    SELECT string_agg(format('%I', a.rolname), ', ' ORDER BY a.rolname) INTO pw_roles
    FROM pg_authid a
    WHERE a.rolpassword IS NOT NULL
      AND EXISTS (SELECT 1 FROM dbx_oauth.roles o WHERE o.role_oid = a.oid);
    "check" := 'hba_method';
    IF cardinality(skipping_lines) > 0 THEN
        status := 'error';
        detail := format('These lines let OAuth roles in with a method that skips the token: %s.', array_to_string(skipping_lines, ', '));
        hint := 'Put a line "host[ssl] all +dbx_oauth_users ... trust" (or reject) before them, or narrow their user column.';
    ELSIF cardinality(password_lines) > 0 AND pw_roles IS NOT NULL THEN
        status := 'error';
        detail := format('OAuth role(s) %s have a password, and %s accept it instead of a token.', pw_roles, array_to_string(password_lines, ', '));
        hint := 'Run ALTER ROLE <role> PASSWORD NULL; for each.';
    ELSE
        status := 'ok';
        detail := 'Every pg_hba.conf line that can match an OAuth role uses trust (token checked) or reject.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'ssl';
    IF ssl_on OR cardinality(tcp_lines) = 0 OR NOT tcp_listening THEN
        status := 'ok';
        detail := CASE WHEN ssl_on THEN 'ssl is on.'
                       ELSE 'ssl is off, and no TCP line can match an OAuth role.' END;
        hint := NULL;
    ELSE
        status := 'error';
        detail := format('ssl is off but TCP lines can match OAuth roles (%s): hostssl lines never match and token logins over TCP are refused or unencrypted.',
                         array_to_string(tcp_lines, ', '));
        hint := 'Set ssl = on with ssl_cert_file and ssl_key_file, and reload.';
    END IF;
    RETURN NEXT;

    -------------------------------------------------------------- settings
    "check" := 'expired_session_action';
    val := coalesce((cfg->>'dbx_oauth.expired_session_action'), 'none');
    IF val = 'none' AND coalesce((cfg->>'dbx_oauth.max_session_age')::bigint, 259200) = 0 THEN
        status := 'warning';
        detail := 'expired_session_action is none and max_session_age is 0: a session outlives its token for ever, also after the identity was removed from Databricks.';
        hint := 'Set dbx_oauth.max_session_age (default 3d) or dbx_oauth.expired_session_action = terminate, and reload.';
    ELSE
        status := 'ok';
        detail := CASE WHEN val = 'none'
            THEN format('expired_session_action is none (Lakebase behaviour): sessions outlive their token up to max_session_age (%s s).',
                        coalesce((cfg->>'dbx_oauth.max_session_age'), '259200'))
            ELSE 'expired_session_action is terminate: sessions end when their token expires.' END;
        hint := NULL;
    END IF;
    RETURN NEXT;

    "check" := 'allow_insecure_http';
    IF coalesce((cfg->>'dbx_oauth.allow_insecure_http'), 'off') = 'on' THEN
        status := 'warning';
        detail := 'allow_insecure_http is on: keys may be fetched over plain HTTP from loopback issuers (meant for tests).';
        hint := 'Set dbx_oauth.allow_insecure_http = off and reload.';
    ELSE
        status := 'ok';
        detail := 'Keys are fetched over HTTPS only.';
        hint := NULL;
    END IF;
    RETURN NEXT;

    -- The accepted-login line is the audit trail of who logged in with
    -- which token; like PostgreSQL's own connection lines it is written at
    -- LOG only with log_connections (18: a list naming authentication or
    -- authorization), so without it the server log records no token login.
    "check" := 'login_log';
    val := lower(current_setting('log_connections'));
    IF val IN ('on', 'true', 'yes', '1', 'all')
       OR val ~ '(^|,)\s*(authentication|authorization)\s*(,|$)' THEN
        status := 'ok';
        detail := 'log_connections is on: every accepted token login is logged with its identity and token fingerprint.';
        hint := NULL;
    ELSE
        status := 'warning';
        detail := 'log_connections is off: accepted token logins are not written to the server log (rejected ones still are), so it holds no record of who logged in.';
        hint := 'Set log_connections = on (PostgreSQL 18: a list with authentication) and reload.';
    END IF;
    RETURN NEXT;

    "check" := 'max_token_lifetime';
    val := coalesce((cfg->>'dbx_oauth.max_token_lifetime'), '86400');
    IF val::bigint > 86400 THEN
        status := 'warning';
        detail := format('max_token_lifetime is %s s: tokens valid for more than a day are accepted (Databricks access tokens live 1 hour).', val);
        hint := 'Set dbx_oauth.max_token_lifetime = ''24h'' or less and reload.';
    ELSE
        status := 'ok';
        detail := format('max_token_lifetime is %s s.', val);
        hint := NULL;
    END IF;
    RETURN NEXT;

    ------------------------------------------------------ area checks
    RETURN QUERY SELECT * FROM dbx_oauth.doctor_security();
    RETURN QUERY SELECT * FROM dbx_oauth.doctor_oauth();
    RETURN QUERY SELECT * FROM dbx_oauth.doctor_groups();
    RETURN QUERY SELECT * FROM dbx_oauth.doctor_authenticator();
    RETURN QUERY SELECT * FROM dbx_oauth.doctor_revocation();
END
$doctor$;
COMMENT ON FUNCTION dbx_oauth.doctor() IS
  'Configuration checks: preload, worker, issuers and keys, clock, audience, role guards, labels and privileges, pg_hba.conf lines, ssl, risky settings; status ok, warning or error';
REVOKE ALL ON FUNCTION dbx_oauth.doctor() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION dbx_oauth.doctor() TO pg_monitor;
