-- validate_token() and token_status(): every rule the login hook applies,
-- checked through SQL with keys from dbx_oauth.jwks_file.
\set SHOW_CONTEXT never

-- What a failure looks like: SQLSTATE and message, and proof that the token
-- text never appears in it.
CREATE FUNCTION pg_temp.failure(tok text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dbx_oauth.validate_token(tok);
    RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM ||
           CASE WHEN length(tok) > 8 AND position(tok IN SQLERRM) > 0 THEN ' (LEAKS TOKEN)' ELSE '' END;
END $$;
CREATE FUNCTION pg_temp.reason(tok text) RETURNS text LANGUAGE sql AS
  $$ SELECT (dbx_oauth.token_status(tok)).reason $$;

-- A good RS256 user token.
\set good `test/regress/mint --kid regress-rsa`
SELECT v->>'sub' AS sub, v->>'iss' AS iss, v->>'scope' AS scope,
       (v->>'exp')::bigint - (v->>'iat')::bigint AS lifetime
FROM dbx_oauth.validate_token(:'good') AS v;
SELECT valid, reason, identity, identity_type, expires_at > now() AS in_future
FROM dbx_oauth.token_status(:'good');

-- A token minted by an independent implementation (PyJWT) with the same keys.
\set pyjwt `test/fixtures/mint pyjwt --dir build/regress_keys --kid regress-rsa --iss https://adb-1234567890123456.7.azuredatabricks.net/oidc --aud 1234567890123456 --sub carol@example.com --scope all-apis`
SELECT valid, reason, identity FROM dbx_oauth.token_status(:'pyjwt');

-- The other key types.
\set ec `test/regress/mint --kid regress-ec`
\set ed `test/regress/mint --kid regress-ed`
SELECT pg_temp.reason(:'ec') AS es256, pg_temp.reason(:'ed') AS eddsa;

-- A service principal (application id UUID, client credentials).
\set sp `test/regress/mint --kid regress-rsa --sub 6f1b5c2e-3a4d-4e8f-9b0a-1c2d3e4f5a6b --scope all-apis`
SELECT valid, identity, identity_type FROM dbx_oauth.token_status(:'sp');

-- sub missing: client_id is the identity.
\set noid `test/regress/mint --kid regress-rsa --drop-claim sub --client-id 6f1b5c2e-3a4d-4e8f-9b0a-1c2d3e4f5a6b`
SELECT valid, identity, identity_type FROM dbx_oauth.token_status(:'noid');

-- Each bad token differs from the good one in one way.
\set t_sig `test/regress/mint --kid regress-rsa --tamper signature`
\set t_payload `test/regress/mint --kid regress-rsa --tamper payload`
\set t_exp `test/regress/mint --kid regress-rsa --iat 1000000000 --lifetime 3600`
\set t_nbf `test/regress/mint --kid regress-rsa --claim nbf=4102444800 --lifetime 3600`
\set t_iss `test/regress/mint --kid regress-rsa --iss https://evil.example.com/oidc`
\set t_scope `test/regress/mint --kid regress-rsa --scope offline_access`
\set t_kid `test/regress/mint --kid regress-rsa --header kid=\"unknown-kid\"`
\set t_none `test/regress/mint --kid regress-rsa --alg-none`
\set t_hs `test/regress/mint --kid regress-rsa --hs256-with-public-key`
\set t_crit `test/regress/mint --kid regress-rsa --header crit=[\"exp\"]`
\set t_noexp `test/regress/mint --kid regress-rsa --drop-claim exp`
\set t_strexp `test/regress/mint --kid regress-rsa --claim exp=\"4102444800\"`
\set t_life `test/regress/mint --kid regress-rsa --lifetime 172800`
\set t_pad `test/regress/mint --kid regress-rsa --pad-base64 header`
\set t_der `test/regress/mint --kid regress-ec --ecdsa-der`
\set t_typ `test/regress/mint --kid regress-rsa --typ JOSE+JSON`
\set t_dup `test/regress/mint --kid regress-rsa --raw-header '{"alg":"RS256","kid":"regress-rsa","alg":"RS256"}'`
\set t_mismatch `test/regress/mint --kid regress-ec --header kid=\"regress-rsa\"`
SELECT name, pg_temp.reason(tok) AS reason, pg_temp.failure(tok) AS error
FROM (VALUES ('signature', :'t_sig'), ('payload', :'t_payload'), ('expired', :'t_exp'),
             ('nbf', :'t_nbf'), ('issuer', :'t_iss'), ('scope', :'t_scope'),
             ('kid', :'t_kid'), ('none', :'t_none'), ('hs256', :'t_hs'),
             ('crit', :'t_crit'), ('no exp', :'t_noexp'), ('string exp', :'t_strexp'),
             ('lifetime', :'t_life'), ('padded', :'t_pad'), ('ecdsa der', :'t_der'),
             ('typ', :'t_typ'), ('duplicate', :'t_dup'), ('alg/key', :'t_mismatch'),
             ('garbage', 'not-a-token'), ('empty', ''), ('two parts', 'a.b'))
     AS t(name, tok)
ORDER BY name;

-- Oversized tokens are refused before any parsing.
SELECT pg_temp.reason(repeat('a', 20000)) AS oversized;

-- Audience: checked only when configured.
ALTER SYSTEM SET dbx_oauth.audience = 'other-workspace';
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SELECT pg_temp.reason(:'good') AS wrong_audience;
ALTER SYSTEM SET dbx_oauth.audience = 'other-workspace, 1234567890123456';
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);
SELECT pg_temp.reason(:'good') AS one_of_two_audiences;
ALTER SYSTEM RESET dbx_oauth.audience;
SELECT pg_reload_conf();
