-- dbx_oauth.doctor_oauth(): the findings of doctor() about pg_hba.conf lines
-- with method oauth (PostgreSQL 18 and later).  pg_regress's instance has
-- no such line (no version before 18 has the method), so on every version
-- the function reads pg_hba_file_rules and reports nothing; the findings
-- themselves are tested on 18 in test/t/100_oauth_door.pl.
SELECT count(*) AS findings FROM dbx_oauth.doctor_oauth();

-- doctor() includes them and still runs to the end.
SELECT count(*) > 0 AS has_rows FROM dbx_oauth.doctor() WHERE "check" LIKE 'hba_oauth%' OR "check" = 'max_token_lifetime';

-- Like doctor(), only for pg_monitor.
CREATE ROLE oauth_door_nobody;
SELECT has_function_privilege('oauth_door_nobody', 'dbx_oauth.doctor_oauth()', 'EXECUTE') AS nobody,
       has_function_privilege('pg_monitor', 'dbx_oauth.doctor_oauth()', 'EXECUTE') AS monitor;
DROP ROLE oauth_door_nobody;
