--
-- Volume access policies: types, configuration tables, policy language,
-- policy-user matrix, path rules, size limits, RLS.
--
\set SHOW_CONTEXT never

-- Runs a statement and reports 'ok' or 'SQLSTATE: message'.
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- Evaluates a policy text for one action, path, user; NULL policy = publicRead.
CREATE FUNCTION pg_temp.ev(policy text, action dbx_oauth.file_action, path text DEFAULT 'x.txt',
                           uid text DEFAULT 'alice@example.com', sp boolean DEFAULT false,
                           size bigint DEFAULT NULL) RETURNS boolean LANGUAGE sql AS $$
    SELECT dbx_oauth.eval_policy(policy::jsonb, action, ROW(path, 'vol', size)::dbx_oauth.file_resource,
                                 ROW(uid, sp)::dbx_oauth.policy_user)
$$;

--
-- Types
--
SELECT a AS action, dbx_oauth.is_read_action(a) AS is_read, dbx_oauth.is_write_action(a) AS is_write
FROM unnest(enum_range(NULL::dbx_oauth.file_action)) AS a;
SELECT 'remove'::dbx_oauth.file_action;
SELECT ROW('a/b', 'uploads', 10)::dbx_oauth.file_resource, ROW('alice@example.com', false)::dbx_oauth.policy_user;

--
-- files_settings: one row with the AppKit defaults
--
SELECT * FROM dbx_oauth.files_settings;
SELECT pg_temp.try($$INSERT INTO dbx_oauth.files_settings DEFAULT VALUES$$);
SELECT pg_temp.try($$UPDATE dbx_oauth.files_settings SET max_read_size = 0$$);
SELECT pg_temp.try($$UPDATE dbx_oauth.files_settings SET auth = 'obo'$$);

--
-- volumes: constraints
--
INSERT INTO dbx_oauth.volumes (volume_key, volume_path, auth, policy, max_upload_size, max_read_size) VALUES
    ('docs',    '/Volumes/main/app/docs',    NULL, NULL, NULL, NULL),
    ('uploads', '/Volumes/main/app/uploads', 'service-principal',
     '{"any":[{"publicRead":true},{"all":[{"usersOnly":true},{"ownerPrefix":true}]}]}', 1000, 100),
    ('obo',     '/Volumes/main/app/obo',     'on-behalf-of-user', '{"allowAll":true}', NULL, NULL),
    ('sp_only', '/Volumes/main/app/sp_only', NULL, '{"servicePrincipalOnly":true}', NULL, NULL);
SELECT volume_key, volume_path, auth, policy FROM dbx_oauth.volumes ORDER BY volume_key;

SELECT p AS volume_path, pg_temp.try(format($$INSERT INTO dbx_oauth.volumes (volume_key, volume_path) VALUES ('bad', %L)$$, p))
FROM unnest(ARRAY['/Volumes/main/app', '/Volumes/main/app/v/extra', '/Volumes/main/app/v/', 'Volumes/main/app/v',
                  '/volumes/main/app/v', '/Volumes//app/v', '/Volumes/main/../v', '/Volumes/main/app/..',
                  '/Volumes/main/app/.', '']) AS p;
SELECT pg_temp.try($$INSERT INTO dbx_oauth.volumes (volume_key, volume_path) VALUES ('bad key', '/Volumes/c/s/v')$$);
SELECT pg_temp.try($$INSERT INTO dbx_oauth.volumes (volume_key, volume_path, auth) VALUES ('bad', '/Volumes/c/s/v', 'obo')$$);
SELECT pg_temp.try($$INSERT INTO dbx_oauth.volumes (volume_key, volume_path, max_upload_size) VALUES ('bad', '/Volumes/c/s/v', 0)$$);
SELECT pg_temp.try($$INSERT INTO dbx_oauth.volumes (volume_key, volume_path, max_read_size) VALUES ('bad', '/Volumes/c/s/v', -1)$$);

-- Bad policies are rejected when stored, saying where they are wrong.
SELECT p AS policy, pg_temp.try(format($$INSERT INTO dbx_oauth.volumes (volume_key, volume_path, policy) VALUES ('bad', '/Volumes/c/s/v', %L)$$, p))
FROM unnest(ARRAY[
    '{}', '[]', '"publicRead"', 'true',
    '{"allowAll":false}', '{"denyAll":1}', '{"publicRead":"yes"}',
    '{"all":[]}', '{"any":[]}', '{"any":{}}', '{"all":[{"allowAll":true},{"pathPrefix":1}]}',
    '{"not":null}', '{"not":{"any":[{"usersOnly":true},{"bogus":true}]}}',
    '{"usersOnly":true,"actions":["read"]}', '{"AllowAll":true}',
    '{"actions":[]}', '{"actions":["read","wrte"]}', '{"actions":"read"}',
    '{"userIn":[]}', '{"userIn":["a",""]}', '{"userIn":["a",1]}',
    '{"pathPrefix":""}', '{"maxSize":-1}', '{"maxSize":1.5}', '{"maxSize":"10"}', '{"maxSize":9223372036854775808}',
    '{"ownerPrefix":false}', '{"servicePrincipalOnly":null}',
    '{"fn":"may_access"}', '{"fn":"app.may_access()"}', '{"fn":"a.b.c"}', '{"fn":"app.f; DROP TABLE x"}'
]) AS p;
SELECT pg_temp.try($$UPDATE dbx_oauth.volumes SET policy = '{"all":[{"denyAll":true},{"maxSize":null}]}' WHERE volume_key = 'docs'$$);
SELECT policy FROM dbx_oauth.volumes WHERE volume_key = 'docs';
SELECT dbx_oauth.validate_policy(NULL), dbx_oauth.validate_policy('{"publicRead":true}');
SELECT dbx_oauth.validate_policy('{"all":[{"allowAll":true},{"pathPrefix":1}]}');

-- Nesting is bounded.
SELECT pg_temp.try(format('SELECT dbx_oauth.validate_policy(%L)', repeat('{"not":', 31) || '{"allowAll":true}' || repeat('}', 31)));
SELECT pg_temp.try(format('SELECT dbx_oauth.validate_policy(%L)', repeat('{"not":', 32) || '{"allowAll":true}' || repeat('}', 32)));

-- Configuration is not readable or writable by PUBLIC.
CREATE ROLE regress_volume_user;
SET ROLE regress_volume_user;
SELECT pg_temp.try($$SELECT * FROM dbx_oauth.volumes$$);
SELECT pg_temp.try($$UPDATE dbx_oauth.files_settings SET dev_mode = true$$);
RESET ROLE;

--
-- Built-in policies, for every action
--
SELECT a AS action,
       pg_temp.ev('{"allowAll":true}', a) AS allow_all,
       pg_temp.ev('{"denyAll":true}', a) AS deny_all,
       pg_temp.ev('{"publicRead":true}', a) AS public_read,
       pg_temp.ev(NULL, a) AS null_policy,
       pg_temp.ev('{"allowAll":true}', a, uid => 'sp-app-id', sp => true) AS allow_all_sp,
       pg_temp.ev('{"publicRead":true}', a, uid => 'sp-app-id', sp => true) AS public_read_sp
FROM unnest(enum_range(NULL::dbx_oauth.file_action)) AS a;

--
-- Predicates
--
-- usersOnly / servicePrincipalOnly
SELECT pg_temp.ev('{"usersOnly":true}', 'upload') AS user_usersonly,
       pg_temp.ev('{"usersOnly":true}', 'upload', sp => true) AS sp_usersonly,
       pg_temp.ev('{"usersOnly":true}', 'upload', sp => NULL) AS unset_usersonly,
       pg_temp.ev('{"servicePrincipalOnly":true}', 'read') AS user_sponly,
       pg_temp.ev('{"servicePrincipalOnly":true}', 'read', sp => true) AS sp_sponly;
-- actions
SELECT a AS action, pg_temp.ev('{"actions":["upload","delete","list"]}', a) AS allowed
FROM unnest(enum_range(NULL::dbx_oauth.file_action)) AS a;
-- userIn: exact match
SELECT u AS user_id, pg_temp.ev('{"userIn":["bob@example.com","alice@example.com"]}', 'read', uid => u) AS allowed
FROM unnest(ARRAY['alice@example.com', 'bob@example.com', 'ALICE@example.com', 'carol@example.com', '']) AS u;
-- pathPrefix: plain string prefix of the path relative to the volume
SELECT p AS path, pg_temp.ev('{"pathPrefix":"public/"}', 'read', p) AS allowed
FROM unnest(ARRAY['public/a.txt', 'public/', 'public', 'Public/a.txt', 'private/public/a.txt', 'publicity/x']) AS p;
-- maxSize: inclusive; a resource without size (not an upload) is not constrained
SELECT s AS size, pg_temp.ev('{"maxSize":1048576}', 'upload', size => s) AS allowed
FROM unnest(ARRAY[0, 1048575, 1048576, 1048577, NULL]::bigint[]) AS s;
-- ownerPrefix: <user id>/... (per-user home folders), and the home folder itself
SELECT p AS path, pg_temp.ev('{"ownerPrefix":true}', 'upload', p) AS allowed
FROM unnest(ARRAY['alice@example.com/notes.txt', 'alice@example.com', 'alice@example.com.evil/x',
                  'alice@example.comx', 'bob@example.com/notes.txt', 'shared/alice@example.com/x']) AS p;

-- fn: a SQL function (file_action, file_resource, policy_user) returns boolean
CREATE SCHEMA regress_app;
CREATE FUNCTION regress_app.may_access(a dbx_oauth.file_action, r dbx_oauth.file_resource, u dbx_oauth.policy_user)
    RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'may_access(%, %, %)', a, r,
        CASE WHEN (u).id = current_user::text THEN ROW('<current_user>', (u).is_service_principal)::dbx_oauth.policy_user
             ELSE u END;
    RETURN (r).path LIKE 'shared/%' OR (u).id = 'alice@example.com';
END
$$;
CREATE FUNCTION regress_app.boom(dbx_oauth.file_action, dbx_oauth.file_resource, dbx_oauth.policy_user)
    RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'boom was called'; END $$;
CREATE FUNCTION regress_app.null_answer(dbx_oauth.file_action, dbx_oauth.file_resource, dbx_oauth.policy_user)
    RETURNS boolean LANGUAGE sql AS $$ SELECT NULL::boolean $$;
CREATE FUNCTION regress_app.wrong_type(dbx_oauth.file_action, dbx_oauth.file_resource, dbx_oauth.policy_user)
    RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$;
CREATE FUNCTION regress_app."Quoted Name"(dbx_oauth.file_action, dbx_oauth.file_resource, dbx_oauth.policy_user)
    RETURNS boolean LANGUAGE sql AS $$ SELECT true $$;
SELECT pg_temp.ev('{"fn":"regress_app.may_access"}', 'download', 'shared/a', 'bob@example.com', size => 5) AS shared_bob,
       pg_temp.ev('{"fn":"regress_app.may_access"}', 'upload', 'private/a', 'bob@example.com') AS private_bob,
       pg_temp.ev('{"fn":"regress_app.may_access"}', 'upload', 'private/a') AS private_alice;
SELECT pg_temp.ev('{"fn":"regress_app.null_answer"}', 'read') AS null_denies,
       pg_temp.ev('{"fn":"regress_app.\"Quoted Name\""}', 'read') AS quoted_name;
SELECT pg_temp.try($$SELECT pg_temp.ev('{"fn":"regress_app.missing"}', 'read')$$);
SELECT pg_temp.try($$SELECT pg_temp.ev('{"fn":"regress_app.wrong_type"}', 'read')$$);
SELECT pg_temp.try($$SELECT pg_temp.ev('{"fn":"regress_app.boom"}', 'read')$$);
-- EXECUTE privilege is checked for the calling role.
REVOKE EXECUTE ON FUNCTION regress_app.may_access FROM PUBLIC;
GRANT USAGE ON SCHEMA regress_app TO regress_volume_user;
SET ROLE regress_volume_user;
SELECT pg_temp.try($$SELECT pg_temp.ev('{"fn":"regress_app.may_access"}', 'read')$$);
RESET ROLE;

--
-- Combinators
--
SELECT pg_temp.ev('{"all":[{"usersOnly":true},{"actions":["upload"]}]}', 'upload') AS all_user_upload,
       pg_temp.ev('{"all":[{"usersOnly":true},{"actions":["upload"]}]}', 'upload', sp => true) AS all_sp_upload,
       pg_temp.ev('{"all":[{"usersOnly":true},{"actions":["upload"]}]}', 'read') AS all_user_read,
       pg_temp.ev('{"any":[{"publicRead":true},{"servicePrincipalOnly":true}]}', 'read') AS any_user_read,
       pg_temp.ev('{"any":[{"publicRead":true},{"servicePrincipalOnly":true}]}', 'upload') AS any_user_upload,
       pg_temp.ev('{"any":[{"publicRead":true},{"servicePrincipalOnly":true}]}', 'upload', sp => true) AS any_sp_upload,
       pg_temp.ev('{"not":{"pathPrefix":"secret/"}}', 'read', 'secret/x') AS not_secret,
       pg_temp.ev('{"not":{"pathPrefix":"secret/"}}', 'read', 'public/x') AS not_public,
       pg_temp.ev('{"not":{"not":{"allowAll":true}}}', 'read') AS double_not;
-- Empty lists are errors.
SELECT pg_temp.try($$SELECT pg_temp.ev('{"all":[]}', 'read')$$);
SELECT pg_temp.try($$SELECT pg_temp.ev('{"any":[]}', 'read')$$);
SELECT pg_temp.try($$SELECT pg_temp.ev('{"any":[{"allowAll":true},{"all":[]}]}', 'read')$$);
-- Short-circuit: once decided, a function that would raise is not called.
SELECT pg_temp.ev('{"any":[{"allowAll":true},{"fn":"regress_app.boom"}]}', 'upload') AS any_stops_at_allow,
       pg_temp.ev('{"all":[{"denyAll":true},{"fn":"regress_app.boom"}]}', 'upload') AS all_stops_at_deny,
       pg_temp.ev('{"any":[{"publicRead":true},{"fn":"regress_app.boom"}]}', 'read') AS any_public_read,
       pg_temp.ev('{"all":[{"usersOnly":true},{"fn":"regress_app.boom"}]}', 'read', sp => true) AS all_users_only;
-- ... but it is called while the result is still open.
SELECT pg_temp.try($$SELECT pg_temp.ev('{"all":[{"allowAll":true},{"fn":"regress_app.boom"}]}', 'upload')$$);
SELECT pg_temp.try($$SELECT pg_temp.ev('{"any":[{"denyAll":true},{"fn":"regress_app.boom"}]}', 'upload')$$);
-- NULL arguments other than the policy give NULL.
SELECT dbx_oauth.eval_policy('{"allowAll":true}', NULL, ROW('x', 'v', NULL)::dbx_oauth.file_resource,
                             ROW('a', false)::dbx_oauth.policy_user) AS null_action;

--
-- volume_auth_mode: volume -> files_settings -> service-principal
--
SELECT k AS volume_key, dbx_oauth.volume_auth_mode(k) FROM unnest(ARRAY['docs', 'uploads', 'obo']) AS k;
UPDATE dbx_oauth.files_settings SET auth = 'on-behalf-of-user';
SELECT k AS volume_key, dbx_oauth.volume_auth_mode(k) FROM unnest(ARRAY['docs', 'uploads', 'obo']) AS k;
UPDATE dbx_oauth.files_settings SET auth = NULL;
SELECT dbx_oauth.volume_auth_mode('docs');
SELECT pg_temp.try($$SELECT dbx_oauth.volume_auth_mode('nope')$$);

--
-- policy_user: the AppKit policy-user matrix
--
CREATE FUNCTION pg_temp.pu(vol text, fwd text, tok boolean, prog boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE u dbx_oauth.policy_user;
BEGIN
    u := dbx_oauth.policy_user(vol, fwd, tok, prog);
    RETURN CASE WHEN u.id = current_user THEN '(current_user,' || u.is_service_principal || ')' ELSE u::text END;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT CASE WHEN s.dev_mode THEN 'development' ELSE 'production' END AS mode,
       vol, coalesce(quote_literal(fwd), 'NULL') AS forwarded_user, tok AS has_token, prog AS programmatic,
       pg_temp.pu(vol, fwd, tok, prog) AS policy_user
FROM dbx_oauth.files_settings s,
     unnest(ARRAY['docs', 'obo']) AS vol,
     unnest(ARRAY['alice@example.com', NULL, '  ']) AS fwd,
     unnest(ARRAY[true, false]) AS tok,
     unnest(ARRAY[false, true]) AS prog
ORDER BY vol, prog, fwd NULLS LAST, tok DESC;
UPDATE dbx_oauth.files_settings SET dev_mode = true;
SELECT CASE WHEN s.dev_mode THEN 'development' ELSE 'production' END AS mode,
       vol, coalesce(quote_literal(fwd), 'NULL') AS forwarded_user, tok AS has_token, prog AS programmatic,
       pg_temp.pu(vol, fwd, tok, prog) AS policy_user
FROM dbx_oauth.files_settings s,
     unnest(ARRAY['docs', 'obo']) AS vol,
     unnest(ARRAY['alice@example.com', NULL]) AS fwd,
     unnest(ARRAY[true, false]) AS tok,
     unnest(ARRAY[false, true]) AS prog
WHERE vol = 'obo' OR prog
ORDER BY vol, prog, fwd NULLS LAST, tok DESC;
UPDATE dbx_oauth.files_settings SET dev_mode = false;
SELECT dbx_oauth.policy_user('docs', ' alice@example.com ', false) AS trimmed,
       dbx_oauth.policy_user('docs', 'alice@example.com', NULL) AS null_token;
-- The 401 answer is generic.
SELECT dbx_oauth.policy_user('obo', 'alice@example.com', false);
SELECT dbx_oauth.policy_user('obo', NULL, true);
SELECT pg_temp.try($$SELECT dbx_oauth.policy_user('nope', NULL, false)$$);

--
-- resolve_volume_path: path rules
--
SELECT p AS path, pg_temp.try(format('SELECT dbx_oauth.resolve_volume_path(%L, %L)', 'docs', p)) AS outcome,
       CASE WHEN pg_temp.try(format('SELECT dbx_oauth.resolve_volume_path(%L, %L)', 'docs', p)) = 'ok'
            THEN dbx_oauth.resolve_volume_path('docs', p) END AS resolved
FROM unnest(ARRAY[
    -- ".." in every position
    '..', '../x', '../', 'a/..', 'a/../b', 'a/b/..', './..', 'a//../b', '/..',
    '/Volumes/main/app/docs/..', '/Volumes/main/app/docs/../uploads/x', '/Volumes/main/app/../app/docs/x',
    -- look-alikes are literal names
    '...', '..a', 'a..', 'a/.../b', '%2e%2e/x', '%2E%2E%2Fetc', '..%2f..%2fx', '..\x', '. ./x', '‥/x',
    -- absolute paths outside the volume
    '/', '/etc/passwd', '/Volumes', '/Volumes/', '/Volumes/main/app', '/Volumes/main/app/docs2/x',
    '/Volumes/main/app/docsx', '/Volumes/main/app/uploads/x', '/volumes/main/app/docs/x', '//Volumes/main/app/docs/x',
    -- root-level and normalised paths
    'a.txt', 'dir/', './a.txt', 'a//b/./c/', '.', '/Volumes/main/app/docs', '/Volumes/main/app/docs/',
    '/Volumes/main/app/docs/sub/a.txt', 'Volumes/main/app/docs/x',
    -- required
    ''
]) AS p;
SELECT pg_temp.try($$SELECT dbx_oauth.resolve_volume_path('docs', NULL)$$);
SELECT pg_temp.try($$SELECT dbx_oauth.resolve_volume_path('nope', 'a')$$);
SELECT pg_temp.try($$SELECT dbx_oauth.resolve_volume_path(NULL, 'a')$$);
-- NUL cannot reach the function: PostgreSQL text has no NUL byte.
SELECT pg_temp.try($$SELECT dbx_oauth.resolve_volume_path('docs', E'a\000b')$$);
SELECT pg_temp.try($$SELECT dbx_oauth.resolve_volume_path('docs', convert_from('\x61006200'::bytea, 'UTF8'))$$);
-- 4096 bytes are accepted, 4097 are not; bytes, not characters.
SELECT length(dbx_oauth.resolve_volume_path('docs', repeat('a', 4096))) AS len_4096;
SELECT pg_temp.try(format('SELECT dbx_oauth.resolve_volume_path(%L, %L)', 'docs', repeat('a', 4097))) AS len_4097;
SELECT octet_length(dbx_oauth.resolve_volume_path('docs', repeat('é', 2048))) AS bytes_4096;
SELECT pg_temp.try(format('SELECT dbx_oauth.resolve_volume_path(%L, %L)', 'docs', repeat('é', 2048) || 'a')) AS bytes_4097;
-- The detail names the volume root.
SELECT dbx_oauth.resolve_volume_path('docs', '/Volumes/main/app/uploads/x');

--
-- check_size: limits at the boundary (volume -> files_settings -> AppKit defaults)
--
SELECT v AS volume_key, a AS action, s AS size, pg_temp.try(format('SELECT dbx_oauth.check_size(%L, %L, %s)', v, a, s)) AS outcome
FROM (VALUES ('uploads', 'upload', 1000), ('uploads', 'upload', 1001), ('uploads', 'read', 100), ('uploads', 'read', 101),
             ('uploads', 'download', 1000000), ('uploads', 'preview', 1000000), ('uploads', 'mkdir', 1000000),
             ('docs', 'upload', 5368709120), ('docs', 'upload', 5368709121),
             ('docs', 'read', 10485760), ('docs', 'read', 10485761), ('docs', 'upload', -1)) AS t(v, a, s);
SELECT dbx_oauth.check_size('docs', 'upload', NULL) IS NULL AS null_size_passes;
UPDATE dbx_oauth.files_settings SET max_upload_size = 2000, max_read_size = 20;
SELECT pg_temp.try($$SELECT dbx_oauth.check_size('docs', 'upload', 2000)$$) AS upload_2000,
       pg_temp.try($$SELECT dbx_oauth.check_size('docs', 'upload', 2001)$$) AS upload_2001,
       pg_temp.try($$SELECT dbx_oauth.check_size('docs', 'read', 21)$$) AS read_21,
       pg_temp.try($$SELECT dbx_oauth.check_size('uploads', 'upload', 1001)$$) AS volume_wins;
UPDATE dbx_oauth.files_settings SET max_upload_size = DEFAULT, max_read_size = DEFAULT;
SELECT pg_temp.try($$SELECT dbx_oauth.check_size('nope', 'upload', 1)$$);

--
-- volume_allows and check_volume_access
--
-- With an explicit user.
SELECT v AS volume_key, a AS action, p AS path, u AS as_user,
       dbx_oauth.volume_allows(v, a, p, NULL, u) AS allowed
FROM (VALUES
    ('docs', 'read'::dbx_oauth.file_action, 'a.txt', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('docs', 'upload', 'a.txt', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('uploads', 'upload', 'alice@example.com/a.txt', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('uploads', 'upload', '/Volumes/main/app/uploads/alice@example.com/a.txt', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('uploads', 'upload', './alice@example.com//a.txt', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('uploads', 'upload', 'bob@example.com/a.txt', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('uploads', 'upload', 'alice@example.com/../bob@example.com/a.txt', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('uploads', 'upload', 'alice@example.com/a.txt', ROW('alice@example.com', true)::dbx_oauth.policy_user),
    ('uploads', 'read', '/Volumes/main/app/docs/a.txt', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('uploads', 'read', '', ROW('alice@example.com', false)::dbx_oauth.policy_user),
    ('sp_only', 'upload', 'x', ROW('app', true)::dbx_oauth.policy_user),
    ('sp_only', 'upload', 'x', ROW('alice@example.com', false)::dbx_oauth.policy_user)
) AS t(v, a, p, u);
SELECT dbx_oauth.volume_allows(NULL, 'read', 'x') AS null_key, dbx_oauth.volume_allows('docs', NULL, 'x') AS null_action,
       dbx_oauth.volume_allows('docs', 'read', NULL) AS null_path;
-- an unknown volume is a denial, not an error: RLS scans go on
SELECT dbx_oauth.volume_allows('nope', 'read', 'x') AS unknown_volume;

-- Without as_user and without a validated OAuth identity there is no policy
-- user: everything is denied.  A role name is no identity (a pool role can
-- SET ROLE to any user's role), so current_user is never taken for one.
SELECT dbx_oauth.volume_allows('sp_only', 'upload', 'x') AS sp_only_upload,
       dbx_oauth.volume_allows('uploads', 'upload', current_user || '/x') AS uploads_own_folder,
       dbx_oauth.volume_allows('docs', 'read', 'a.txt') AS public_read;
SELECT pg_temp.try($$SELECT dbx_oauth.check_volume_access('docs', 'read', 'a.txt')$$) AS no_identity;
UPDATE dbx_oauth.volumes SET policy = '{"fn":"regress_app.may_access"}' WHERE volume_key = 'sp_only';
SELECT dbx_oauth.volume_allows('sp_only', 'mkdir', 'shared/dir', 7, ROW(current_user, true)) AS via_fn;
UPDATE dbx_oauth.volumes SET policy = '{"all":[{"userIn":["regress_volume_user"]},{"servicePrincipalOnly":true}]}'
WHERE volume_key = 'sp_only';
SELECT dbx_oauth.volume_allows('sp_only', 'read', 'x') AS as_superuser;
SET ROLE regress_volume_user;
SELECT dbx_oauth.volume_allows('sp_only', 'read', 'x') AS as_regress_volume_user;
RESET ROLE;

-- check_volume_access raises and returns the absolute path.
SELECT dbx_oauth.check_volume_access('uploads', 'upload', 'alice@example.com/a.txt', 1000,
                                     ROW('alice@example.com', false));
SELECT dbx_oauth.check_volume_access('uploads', 'upload', 'bob@example.com/a.txt', 10,
                                     ROW('alice@example.com', false));
SELECT dbx_oauth.check_volume_access('uploads', 'upload', 'alice@example.com/a.txt', 1001,
                                     ROW('alice@example.com', false));
SELECT dbx_oauth.check_volume_access('uploads', 'read', '../etc/passwd', NULL, ROW('alice@example.com', false));
SELECT dbx_oauth.check_volume_access('docs', 'delete', 'a.txt');
SELECT dbx_oauth.check_volume_access('docs', 'read', NULL);
SELECT dbx_oauth.check_volume_access('docs', 'list', '/Volumes/main/app/docs', NULL, ROW('alice@example.com', false));

-- The backend cache follows changes to the tables (same session, same transaction, rollback).
SELECT dbx_oauth.volume_allows('docs', 'upload', 'a.txt', NULL, ROW('alice@example.com', false)) AS before;
UPDATE dbx_oauth.volumes SET policy = '{"allowAll":true}' WHERE volume_key = 'docs';
SELECT dbx_oauth.volume_allows('docs', 'upload', 'a.txt', NULL, ROW('alice@example.com', false)) AS after_update;
BEGIN;
UPDATE dbx_oauth.volumes SET policy = '{"denyAll":true}' WHERE volume_key = 'docs';
SELECT dbx_oauth.volume_allows('docs', 'read', 'a.txt', NULL, ROW('alice@example.com', false)) AS in_transaction;
ROLLBACK;
SELECT dbx_oauth.volume_allows('docs', 'read', 'a.txt', NULL, ROW('alice@example.com', false)) AS after_rollback;
DELETE FROM dbx_oauth.volumes WHERE volume_key = 'docs';
SELECT dbx_oauth.volume_allows('docs', 'read', 'a.txt', NULL, ROW('alice@example.com', false)) AS after_delete;
INSERT INTO dbx_oauth.volumes (volume_key, volume_path) VALUES ('docs', '/Volumes/main/app/docs');
SELECT dbx_oauth.volume_allows('docs', 'read', 'a.txt', NULL, ROW('alice@example.com', false)) AS after_insert;

--
-- RLS example: files(volume_key, path, owner, size), per-user home folders
--
CREATE TABLE regress_files (
    volume_key text NOT NULL,
    path       text NOT NULL,
    owner      text NOT NULL,
    size       bigint
);
INSERT INTO regress_files VALUES
    ('uploads', 'alice@example.com/cv.pdf', 'alice@example.com', 10),
    ('uploads', 'bob@example.com/notes.txt', 'bob@example.com', 20),
    ('uploads', 'alice@example.com/photos/cat.png', 'alice@example.com', 30),
    ('sp_only', 'internal/report.csv', 'app', 40);
-- Each user may read and delete only the files in their own folder of "uploads".
UPDATE dbx_oauth.volumes SET policy = '{"all":[{"usersOnly":true},{"ownerPrefix":true}]}' WHERE volume_key = 'uploads';
ALTER TABLE regress_files ENABLE ROW LEVEL SECURITY;
CREATE POLICY files_read ON regress_files FOR SELECT
    USING (dbx_oauth.volume_allows(volume_key, 'read', path, NULL,
                                   ROW(current_setting('regress.app_user'), false)::dbx_oauth.policy_user));
CREATE POLICY files_delete ON regress_files FOR DELETE
    USING (dbx_oauth.volume_allows(volume_key, 'delete', path, NULL,
                                   ROW(current_setting('regress.app_user'), false)::dbx_oauth.policy_user));
GRANT SELECT, DELETE ON regress_files TO regress_volume_user;
SET ROLE regress_volume_user;
SET regress.app_user = 'alice@example.com';
SELECT volume_key, path FROM regress_files ORDER BY path;
SET regress.app_user = 'bob@example.com';
SELECT volume_key, path FROM regress_files ORDER BY path;
DELETE FROM regress_files WHERE path LIKE 'alice@example.com/%';
SET regress.app_user = 'alice@example.com';
DELETE FROM regress_files WHERE path = 'alice@example.com/cv.pdf' RETURNING path;
SELECT volume_key, path FROM regress_files ORDER BY path;
RESET regress.app_user;
RESET ROLE;

-- Clean up.
DROP TABLE regress_files;
DROP SCHEMA regress_app CASCADE;
DELETE FROM dbx_oauth.volumes;
DROP ROLE regress_volume_user;
