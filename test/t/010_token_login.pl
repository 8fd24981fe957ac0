# Token login: a Databricks OAuth access token as the password, through real
# libpq connections over the unix socket and over TCP with SSL.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $t = DbxOAuthNode->create('login');
my $node = $t->node;

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';
my $sp = '6f1b5c2e-3a4d-4e8f-9b0a-1c2d3e4f5a6b';
$node->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'user');
	SELECT dbx_oauth.create_role('$sp', 'SERVICE_PRINCIPAL');
	SELECT dbx_oauth.create_role('data-team', 'GROUP');
	GRANT "data-team" TO "$alice";
	CREATE ROLE plain_pw LOGIN PASSWORD 'secret-pw';
	CREATE ROLE plain_trust LOGIN;
});

my @tokens;    # every token used, to prove none reaches the log
sub mint { my $tok = $t->mint(@_); push @tokens, $tok; return $tok; }

my $generic = qr/password authentication failed for user/;

# --- accepted logins -------------------------------------------------------
my $tok = mint(sub => $alice);
$node->connect_ok($t->connstr($alice, $tok), 'user logs in with a token over the unix socket',
	sql => 'SELECT current_user, session_user, dbx_oauth.current_identity(), dbx_oauth.current_identity_type()',
	expected_stdout => qr/^\Q$alice|$alice|$alice|USER\E$/,
	log_like => [qr/dbx_oauth: token login accepted: role="\Q$alice\E" identity="\Q$alice\E" type=USER/]);

$node->connect_ok($t->connstr($alice, $tok, tcp => 1, ssl => 1), 'user logs in over TCP with SSL',
	sql => 'SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
	expected_stdout => qr/^\Q$alice\E\|t$/);

$node->connect_ok($t->connstr($alice, mint(sub => 'Alice@Example.com')),
	'token identity is compared case-insensitively for users',
	sql => 'SELECT current_user', expected_stdout => qr/^\Q$alice\E$/);

$node->connect_ok($t->connstr($sp, mint(sub => $sp, scope => 'all-apis', kid => 'login-ec')),
	'service principal logs in with an ES256 token',
	sql => 'SELECT current_user, dbx_oauth.current_identity_type(), dbx_oauth.is_service_principal()',
	expected_stdout => qr/^\Q$sp\E\|SERVICE_PRINCIPAL\|t$/);

$node->connect_ok($t->connstr('data-team', mint(sub => $alice)),
	'a group member logs in as the group role with her own token',
	sql => 'SELECT current_user, dbx_oauth.current_identity()',
	expected_stdout => qr/^data-team\|\Q$alice\E$/);

$node->connect_ok($t->connstr($alice, mint(sub => $alice)),
	'claims and scopes are visible to the session',
	sql => q{SELECT dbx_oauth.claim('client_id'), dbx_oauth.has_scope('all-apis'), dbx_oauth.has_scope('sql'), dbx_oauth.token_expires_at() > now(), dbx_oauth.claims() ? 'jti'},
	expected_stdout => qr/^databricks-cli\|t\|f\|t\|t$/);

# --- rejected logins: generic message to the client, reason in the log -----
my @bad = (
	['expired token', mint(sub => $alice, iat => 1000000000), 'expired'],
	['token not yet valid', mint(sub => $alice, nbf => time() + 3600), 'not_yet_valid'],
	['wrongly signed token', mint(sub => $alice, tamper => 'signature'), 'bad_signature'],
	['token for another identity', mint(sub => $bob), 'identity_mismatch'],
	['untrusted issuer', mint(sub => $alice, iss => 'https://evil.example.com/oidc'), 'untrusted_issuer'],
	['no accepted scope', mint(sub => $alice, scope => 'offline_access sql'), 'missing_scope'],
	['unknown key id', mint(sub => $alice, header => 'kid="nope"'), 'unknown_kid'],
	['garbage', 'this-is-not-a-token', 'malformed'],
	['service principal token for a user role', mint(sub => $sp, scope => 'all-apis'), 'identity_type_mismatch|identity_mismatch'],
	['group login by a non-member', mint(sub => $bob), 'not_a_group_member', 'data-team'],
);
for my $case (@bad) {
	my ($name, $token, $reason, $role) = @$case;
	$role //= $alice;
	$node->connect_fails($t->connstr($role, $token), "rejected: $name",
		expected_stderr => $generic,
		log_like => [qr/dbx_oauth: token login rejected: reason=(?:$reason)\b.*client=\[local\] token_fingerprint=[0-9a-f]{16}/]);
}

$node->connect_fails($t->connstr($alice, undef), 'no password: the client gives up, nothing is accepted',
	expected_stderr => qr/no password supplied|password authentication failed/);
$node->connect_fails($t->connstr($alice, ''), 'empty password is rejected',
	expected_stderr => qr/no password supplied|password authentication failed/);

my $huge = 'a' x (70 * 1024);
$node->connect_fails($t->connstr($alice, $huge), '70 KiB password is rejected',
	log_like => [qr/reason=malformed|invalid message length/]);
$node->connect_fails($t->connstr($alice, 'a' x 20000), '20 KB password is rejected as too large',
	expected_stderr => $generic, log_like => [qr/reason=token_too_large/]);

# TCP without SSL is refused before any token is asked for.
$node->connect_fails($t->connstr($alice, mint(sub => $alice), tcp => 1, ssl => 0),
	'TCP without SSL is refused while require_ssl is on',
	expected_stderr => $generic, log_like => [qr/reason=ssl_required/]);

# --- other roles keep working ---------------------------------------------
$node->connect_ok($t->connstr('plain_pw', 'secret-pw', tcp => 1, ssl => 1),
	'a password role keeps working', sql => 'SELECT current_user', expected_stdout => qr/^plain_pw$/);
$node->connect_ok($t->connstr('plain_trust', undef),
	'a non-OAuth role on the same trust line is untouched',
	sql => 'SELECT current_user, dbx_oauth.current_identity() IS NULL', expected_stdout => qr/^plain_trust\|t$/);

# A role granted OAuth roles (an authenticator) without a label cannot use the trust line.
$node->safe_psql('postgres', qq{CREATE ROLE authenticator LOGIN; GRANT "$alice" TO authenticator;});
$node->connect_fails($t->connstr('authenticator', mint(sub => $alice)),
	'an unlabelled member of dbx_oauth_users is refused on a trust line',
	expected_stderr => $generic, log_like => [qr/reason=not_an_oauth_role/]);

# A plain CREATE ROLE cannot be labelled by a non-superuser, even one that
# may otherwise alter it (16+ asks for the ADMIN option on the role first).
$node->safe_psql('postgres', q{CREATE ROLE admin CREATEROLE LOGIN; CREATE ROLE victim LOGIN;
	GRANT victim TO admin WITH ADMIN OPTION;});
my ($ret, $out, $err) = $node->psql('postgres', q{SET ROLE admin; SECURITY LABEL FOR dbx_oauth ON ROLE victim IS 'USER'});
like($err, qr/permission denied to set a dbx_oauth label/, 'labels cannot be forged by CREATEROLE holders');

# --- the sessions view ----------------------------------------------------
$node->connect_ok($t->connstr($alice, mint(sub => $alice)), 'the session is listed while it is open',
	sql => 'SELECT role_name, identity, identity_type, auth_method, length(token_fingerprint) FROM dbx_oauth.sessions',
	expected_stdout => qr/^\Q$alice|$alice\E\|USER\|login\|16$/);
is($node->safe_psql('postgres', 'SELECT count(*) FROM dbx_oauth.sessions'), '0',
	'no OAuth session is left behind by closed connections');

# --- RLS: two users, one table, each sees only their rows -----------------
$node->safe_psql('postgres', qq{
	CREATE TABLE docs (id int, owner text, body text);
	INSERT INTO docs VALUES (1, '$alice', 'alice-1'), (2, '$alice', 'alice-2'), (3, '$bob', 'bob-1');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = dbx_oauth.current_identity());
	GRANT SELECT ON docs TO dbx_oauth_users;
});
$node->connect_ok($t->connstr($alice, mint(sub => $alice)), 'RLS: alice sees her two rows',
	sql => 'SELECT string_agg(body, \',\' ORDER BY id) FROM docs', expected_stdout => qr/^alice-1,alice-2$/);
$node->connect_ok($t->connstr($bob, mint(sub => $bob)), 'RLS: bob sees his one row',
	sql => 'SELECT string_agg(body, \',\' ORDER BY id) FROM docs', expected_stdout => qr/^bob-1$/);

# Parallel workers see the leader's identity (the helpers are PARALLEL SAFE).
$node->safe_psql('postgres', qq{
	CREATE TABLE big AS SELECT g AS id, CASE WHEN g % 2 = 0 THEN '$alice' ELSE '$bob' END AS owner FROM generate_series(1, 200000) g;
	ALTER TABLE big ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON big USING (owner = dbx_oauth.current_identity());
	GRANT SELECT ON big TO dbx_oauth_users;
	ANALYZE big;
});
$node->connect_ok($t->connstr($alice, mint(sub => $alice)), 'RLS under a parallel plan counts only own rows',
	sql => 'SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2; SELECT count(*) FROM big',
	expected_stdout => qr/^100000$/);

# --- the accepted line follows log_connections -----------------------------
# Like PostgreSQL's own connection lines, it is written (at LOG) only with
# log_connections; without it the login still works and a rejection is
# still logged.
$node->append_conf('postgresql.conf', "log_connections = off\n");
$node->reload;
my $quiet_tok = mint(sub => $alice);
my $quiet_fp = substr(`printf '%s' '$quiet_tok' | sha256sum`, 0, 16);
$node->connect_ok($t->connstr($alice, $quiet_tok), 'without log_connections a token login still succeeds',
	sql => 'SELECT dbx_oauth.current_identity()', expected_stdout => qr/^\Q$alice\E$/,
	# at LOG: on 18 the nodes log debug2, where the DEBUG1 line shows
	log_unlike => [qr/LOG:  dbx_oauth: token login accepted[^\n]*token_fingerprint=$quiet_fp/]);
$node->connect_fails($t->connstr($bob, $quiet_tok), 'without log_connections a rejection is still logged',
	expected_stderr => $generic,
	log_like => [qr/token login rejected: reason=identity_mismatch\b[^\n]*token_fingerprint=$quiet_fp/]);
$node->append_conf('postgresql.conf', "log_connections = on\n");
$node->reload;
$node->connect_ok($t->connstr($alice, $quiet_tok), 'with log_connections the accepted line is back',
	sql => 'SELECT 1', expected_stdout => qr/^1$/,
	log_like => [qr/LOG:  dbx_oauth: token login accepted: role="\Q$alice\E"[^\n]*token_fingerprint=$quiet_fp/]);

# --- no token text in the server log ---------------------------------------
my $log = $t->server_log;
my $leaks = grep { length($_) > 20 && index($log, $_) >= 0 } @tokens;
is($leaks, 0, 'no token appears in the server log');

# --- the preload guard: without shared_preload_libraries, OAuth roles are locked out
$node->stop;
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->start;
$node->connect_fails($t->connstr($alice, mint(sub => $alice)),
	'without the preloaded library an OAuth role cannot log in (fail closed)',
	expected_stderr => qr/dbx_oauth must be loaded via shared_preload_libraries/);
$node->connect_fails($t->connstr($alice, undef),
	'... not even without a password on the trust line',
	expected_stderr => qr/dbx_oauth must be loaded via shared_preload_libraries/);
$node->connect_ok($t->connstr('plain_trust', undef), 'non-OAuth roles still log in',
	sql => 'SELECT 1', expected_stdout => qr/^1$/);

done_testing();
