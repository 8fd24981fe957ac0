-- Bench database set-up (bench/run, as the cluster superuser, database "bench").
-- psql variable: rows (table size of the per-row figures).  Objects that
-- depend on features still being finished are made by their figure.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION IF NOT EXISTS dbx_oauth;

-- Login methods (figure 2): the OAuth role, a SCRAM role, a trust role.
SELECT dbx_oauth.create_role('alice@example.com', 'USER');
CREATE ROLE bench_trust LOGIN;
CREATE ROLE bench_scram LOGIN PASSWORD 'bench-scram-pw';
-- The pool's own role (authenticator): member of the OAuth role, logs in
-- with SCRAM on its own hba line (placed before the trust lines).
CREATE ROLE bench_app LOGIN PASSWORD 'bench-app-pw';
GRANT "alice@example.com" TO bench_app;

-- Per-row identity helpers (figures 3 and 8): 1/1000 of the rows are alice's.
CREATE UNLOGGED TABLE rls_base AS
    SELECT i AS id,
           CASE WHEN i % 1000 = 0 THEN 'alice@example.com'
                ELSE 'user' || (i % 1000) || '@example.com' END AS owner
    FROM generate_series(1, :rows) AS i;

-- Supabase's auth.uid() helper, returning text because Databricks subjects
-- are e-mail addresses or application ids rather than UUIDs.
CREATE SCHEMA bench_auth;
CREATE FUNCTION bench_auth.uid() RETURNS text
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')) $$;
GRANT USAGE ON SCHEMA bench_auth TO PUBLIC;

-- Pooled transactions (figure 4): a primary-key read, no RLS.
CREATE TABLE pool_docs (id int PRIMARY KEY, owner text, body text);
INSERT INTO pool_docs
    SELECT i, 'alice@example.com', 'document ' || i || ' ' || repeat('x', 80)
    FROM generate_series(1, 10000) AS i;
GRANT SELECT ON pool_docs TO bench_app, dbx_oauth_users;

-- Volume policy (figure 5): a third each of public, own and someone else's files.
CREATE UNLOGGED TABLE vol_files AS
    SELECT i AS id,
           CASE i % 3 WHEN 0 THEN 'public/report-' || i || '.csv'
                      WHEN 1 THEN 'alice@example.com/notes-' || i || '.txt'
                      ELSE 'bob@example.com/secret-' || i || '.txt' END AS path
    FROM generate_series(1, :rows) AS i;
GRANT SELECT ON vol_files TO dbx_oauth_users;
VACUUM (ANALYZE) vol_files;
