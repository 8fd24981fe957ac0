-- dbx_oauth.doctor(): shape, privileges, and the role checks made to fail
-- and pass again.  Checks that need reloads, pg_hba.conf edits, restarts or
-- an issuer are in test/t/060_doctor.pl.

-- The temporary instance: preloaded, one issuer, no audience, default settings.
SELECT "check", status FROM dbx_oauth.doctor()
WHERE "check" IN ('preload', 'issuers', 'worker', 'audience', 'role_guard', 'role_label',
                  'hba_method', 'expired_session_action', 'allow_insecure_http',
                  'max_token_lifetime')
ORDER BY "check";

-- Every row has a known status and a detail; a hint exactly when not ok.
SELECT count(*) > 0 AS has_rows,
       bool_and(status IN ('ok', 'warning', 'error')) AS known_status,
       bool_and(detail IS NOT NULL AND detail <> '') AS has_detail,
       bool_and((hint IS NULL) = (status = 'ok')) AS hint_iff_not_ok
FROM dbx_oauth.doctor();

-- role_guard: an OAuth role without the session_preload_libraries guard.
SELECT dbx_oauth.create_role('doctor-user@example.com', 'USER');
ALTER ROLE "doctor-user@example.com" RESET session_preload_libraries;
SELECT status, detail LIKE '%"doctor-user@example.com"%' AS names_role
FROM dbx_oauth.doctor() WHERE "check" = 'role_guard';
ALTER ROLE "doctor-user@example.com" SET session_preload_libraries = 'dbx_oauth';
SELECT status FROM dbx_oauth.doctor() WHERE "check" = 'role_guard';
-- a guard among other preloaded libraries counts too
ALTER ROLE "doctor-user@example.com" SET session_preload_libraries = 'auto_explain, dbx_oauth';
SELECT status FROM dbx_oauth.doctor() WHERE "check" = 'role_guard';
ALTER ROLE "doctor-user@example.com" SET session_preload_libraries = 'auto_explain';
SELECT status FROM dbx_oauth.doctor() WHERE "check" = 'role_guard';
ALTER ROLE "doctor-user@example.com" SET session_preload_libraries = 'dbx_oauth';

-- role_label: a labelled role outside dbx_oauth_users is an error (the hook
-- would not ask it for a token) ...
REVOKE dbx_oauth_users FROM "doctor-user@example.com";
SELECT status, detail LIKE '%"doctor-user@example.com"%' AS names_role
FROM dbx_oauth.doctor() WHERE "check" = 'role_label';
GRANT dbx_oauth_users TO "doctor-user@example.com";
SELECT status FROM dbx_oauth.doctor() WHERE "check" = 'role_label';
-- ... a member without a label a warning (refused: not_an_oauth_role).
CREATE ROLE doctor_unlabelled LOGIN IN ROLE dbx_oauth_users;
SELECT status, detail LIKE '%doctor_unlabelled%' AS names_role
FROM dbx_oauth.doctor() WHERE "check" = 'role_label';
DROP ROLE doctor_unlabelled;
SELECT status FROM dbx_oauth.doctor() WHERE "check" = 'role_label';

-- Privileges: superusers and pg_monitor members only.
CREATE ROLE doctor_monitor IN ROLE pg_monitor;
CREATE ROLE doctor_nobody;
SET ROLE doctor_nobody;
SELECT count(*) FROM dbx_oauth.doctor();
SELECT dbx_oauth.key_worker_pid();
SET ROLE doctor_monitor;
SELECT count(*) > 10 AS monitor_sees_checks,
       bool_and(status <> 'error') FILTER (WHERE "check" = 'hba_method') AS hba_readable
FROM dbx_oauth.doctor();
RESET ROLE;
SELECT p.prosecdef AS security_definer, p.proconfig
FROM pg_proc p WHERE p.oid = 'dbx_oauth.doctor()'::regprocedure;
SELECT has_function_privilege('public', 'dbx_oauth.doctor()', 'EXECUTE') AS public_may_run;

DROP ROLE doctor_monitor;
DROP ROLE doctor_nobody;
SELECT dbx_oauth.drop_role('doctor-user@example.com');
