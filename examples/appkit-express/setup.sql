-- One-time database setup for the example app, run by a superuser:
--   psql -v app_sp=<the app's service principal application id> -f setup.sql
-- with dbx_oauth.authenticator_role = '<that application id>' in postgresql.conf.
SELECT dbx_oauth.create_role(:'app_sp', 'SERVICE_PRINCIPAL');   -- the app: logs in with its own token
SELECT dbx_oauth.create_role('alice@example.com', 'USER');        -- granted to the app by create_role
SELECT dbx_oauth.create_role('bob@example.com', 'USER');

CREATE TABLE docs (id serial PRIMARY KEY, owner text NOT NULL, body text);
ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
GRANT SELECT ON docs TO dbx_oauth_users;
GRANT USAGE ON SEQUENCE docs_id_seq TO dbx_oauth_users;
