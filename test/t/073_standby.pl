# Streaming-replication hot standby: two clusters on this
# machine.  On the standby: OAuth logins (roles and labels replicated from
# the primary, keys from the standby's own worker), RLS helpers, set_token
# on a shared-pool role, volume policies; the worker fetches keys without
# writing to the database (the standby generates no WAL and logs no
# read-only errors); write functions fail cleanly; restarts replay and a
# promotion ends recovery with the extension working.
use strict;
use warnings;

use FindBin;
use File::Path ();
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;
use FakeWorkspace;

my $ws = FakeWorkspace->start(dir => PostgreSQL::Test::Utils::tempdir() . '/ws');
my $issuer = $ws->issuer;
my $pool_pw = 'pool-secret-pw';

# DbxOAuthNode's trust lines do not cover replication; the pool role uses a
# password line placed before them.
my $t = DbxOAuthNode->create('primary',
	hba => "local replication all trust\nlocal all app_pool scram-sha-256\n",
	conf => join("\n",
		"dbx_oauth.issuers = '$issuer'",
		"dbx_oauth.ca_file = '" . $ws->ca_file . "'",
		"dbx_oauth.jwks_refresh_interval = '1h'",
		"dbx_oauth.http_timeout = 3000",
		"dbx_oauth.authenticator_role = 'app_pool'",
		"wal_level = replica",
		"max_wal_senders = 4",
		"hot_standby = on",
		"log_statement = none",
		""));
my $primary = $t->node;
my $alice = 'alice@example.com';
my $bob = 'bob@example.com';

$primary->safe_psql('postgres', qq{
	CREATE ROLE app_pool LOGIN NOINHERIT PASSWORD '$pool_pw';
	SELECT dbx_oauth.create_role('$alice', 'USER');
	CREATE TABLE docs (id int, owner text, body text);
	INSERT INTO docs VALUES (1, '$alice', 'alice-1'), (2, '$bob', 'bob-1');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = dbx_oauth.current_identity());
	GRANT SELECT ON docs TO dbx_oauth_users, app_pool;
	INSERT INTO dbx_oauth.volumes (volume_key, volume_path, policy) VALUES
	    ('uploads', '/Volumes/main/app/uploads', '{"any":[{"publicRead":true},{"all":[{"usersOnly":true},{"ownerPrefix":true}]}]}');
});
ok($primary->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'discovery'"), 'primary: worker fetched keys');

# --- the standby ---------------------------------------------------------------
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
chmod 0600, $standby->data_dir . '/server.key';    # the backup copy is not 0600
# The base backup carries the primary's persisted keys; remove them so the
# standby's worker must fetch its own.
File::Path::rmtree($standby->data_dir . '/dbx_oauth');
$ws->reset_stats;
$standby->start;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');

# A role made on the primary after the standby started: roles and labels
# (pg_shseclabel) replicate like any catalog.
$primary->safe_psql('postgres', qq{SELECT dbx_oauth.create_role('$bob', 'USER')});
$primary->wait_for_catchup($standby);

# The standby's own worker fetched keys from the issuer (not from WAL).
ok($standby->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'discovery'"), 'standby: its worker fetched the issuer keys');
cmp_ok($ws->stats->{jwks}, '>=', 1, 'standby: the issuer saw the JWKS fetch');
is($standby->safe_psql('postgres',
	"SELECT consecutive_failures || '|' || coalesce(last_error, '') FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'"),
	'0|', 'standby: worker_status healthy');
$ws->reset_stats;
my ($rc, $out, $err) = $standby->psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
is($rc, 0, 'standby: refresh_keys() runs') or diag($err);
cmp_ok($ws->stats->{jwks}, '>=', 1, 'standby: refresh_keys() made the worker fetch the JWKS');

# A jwks_file token and a workspace token, both for the standby.
my $file_tok = $t->mint(sub => $alice, iss => $issuer);
my $ws_tok = $ws->mint(sub => $alice);
my $bob_tok = $ws->mint(sub => $bob);
my $sconn = sub {
	my ($user, $pw, %o) = @_;
	my $s = "user='$user' dbname=postgres password='$pw'";
	$s .= ' host=127.0.0.1 port=' . $standby->port . ' sslmode=require' if $o{tcp};
	return $s;
};

# --- logins and RLS helpers on the standby --------------------------------------
$standby->connect_ok($sconn->($alice, $ws_tok, tcp => 1), 'standby: OAuth login over TCP+SSL with an issuer key',
	sql => q{SELECT current_user, dbx_oauth.current_identity(), dbx_oauth.current_identity_type(),
	         dbx_oauth.has_scope('all-apis'), dbx_oauth.claim('sub'), string_agg(body, ',') FROM docs},
	expected_stdout => qr/^\Q$alice|$alice\E\|USER\|t\|\Q$alice\E\|alice-1$/);
$standby->connect_ok($sconn->($alice, $file_tok), 'standby: OAuth login with a jwks_file key',
	sql => 'SELECT pg_is_in_recovery(), dbx_oauth.token_expires_at() > now()', expected_stdout => qr/^t\|t$/);
$standby->connect_ok($sconn->($bob, $bob_tok), 'standby: a role created on the primary after the backup logs in',
	sql => 'SELECT current_user, string_agg(body, \',\') FROM docs', expected_stdout => qr/^\Q$bob\E\|bob-1$/);
$standby->connect_fails($sconn->($alice, $bob_tok), 'standby: a token for another identity is refused',
	expected_stderr => qr/password authentication failed/,
	log_like => [qr/token login rejected: reason=identity_mismatch/]);
$standby->connect_fails($sconn->($alice, $ws->mint(sub => $alice, tamper => 'signature')), 'standby: a bad signature is refused',
	expected_stderr => qr/password authentication failed/,
	log_like => [qr/token login rejected: reason=bad_signature/]);
$standby->connect_ok($sconn->($alice, $ws_tok), 'standby: the sessions view lists the open session',
	sql => 'SELECT role_name, auth_method FROM dbx_oauth.sessions', expected_stdout => qr/^\Q$alice\E\|login$/);
is($standby->safe_psql('postgres', 'SELECT count(*) FROM dbx_oauth.sessions'), '0', 'standby: no session left behind');

# --- set_token on a shared-pool role --------------------------------------------------
($rc, $out, $err) = $standby->psql('postgres', qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$ws_tok', true);
	SELECT current_user, dbx_oauth.current_identity(), string_agg(body, ',') FROM docs;
	COMMIT;
	SELECT current_user, coalesce(dbx_oauth.current_identity(), '-');
}, connstr => $sconn->('app_pool', $pool_pw));
is($out, "$alice\n$alice|$alice|alice-1\napp_pool|-", 'standby: set_token(token, true) switches for one read-only transaction')
  or diag($err);

# --- volume policies ------------------------------------------------------------
$standby->connect_ok($sconn->($alice, $ws_tok), 'standby: volume policies evaluate',
	sql => q{SELECT dbx_oauth.volume_allows('uploads', 'read', 'x.txt'),
	                dbx_oauth.volume_allows('uploads', 'upload', 'alice@example.com/a.txt'),
	                dbx_oauth.volume_allows('uploads', 'upload', 'bob@example.com/a.txt'),
	                dbx_oauth.volume_allows('uploads', 'read', '../etc/passwd'),
	                dbx_oauth.check_volume_access('uploads', 'read', 'x.txt')},
	expected_stdout => qr{^t\|t\|f\|f\|/Volumes/main/app/uploads/x\.txt$});

# --- no writes from the extension on the standby -----------------------------------
# Write functions fail with the ordinary read-only error, nothing crashes.
($rc, $out, $err) = $standby->psql('postgres', q{SELECT dbx_oauth.create_role('carol@example.com', 'USER')});
like($err, qr/read-only transaction|recovery/, 'standby: create_role fails cleanly (read-only)');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby: still in recovery');
my $slog = slurp_file($standby->logfile);
my @read_only = $slog =~ /ERROR:\s+cannot execute [^\n]* in a read-only transaction/g;
is(scalar @read_only, 1, 'standby: the only read-only error in the log is that create_role call');
unlike($slog, qr/cannot assign TransactionIds during recovery|cannot (?:write|insert|update)[^\n]*recovery/,
	'standby: no extension process tried to write during recovery');
unlike($slog, qr/background worker "dbx_oauth[^"]*" \(PID \d+\) exited with exit code [^0]|terminated by signal|PANIC/,
	'standby: no extension worker failed');

# --- recovery: restart, replay, promotion -----------------------------------------
$primary->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('carol\@example.com', 'USER');
	UPDATE dbx_oauth.volumes SET policy = '{"denyAll":true}' WHERE volume_key = 'uploads';
});
$standby->restart;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM dbx_oauth.roles WHERE role_name = 'carol@example.com'}),
	'1', 'standby restart: replay picked up a new role');
$standby->connect_ok($sconn->($alice, $ws_tok), 'standby restart: a policy change replayed takes effect',
	sql => q{SELECT dbx_oauth.volume_allows('uploads', 'read', 'x.txt')}, expected_stdout => qr/^f$/);

$standby->promote;
ok($standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()'), 'promotion ends recovery');
$standby->safe_psql('postgres', q{SELECT dbx_oauth.create_role('dave@example.com', 'USER')});
$standby->connect_ok($sconn->('dave@example.com', $ws->mint(sub => 'dave@example.com')),
	'promoted: a role created after promotion logs in',
	sql => 'SELECT current_user', expected_stdout => qr/^dave\@example\.com$/);
ok($standby->poll_query_until('postgres',
	"SELECT consecutive_failures = 0 FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'"),
	'promoted: the worker keeps its keys healthy');

my @tokens = ($file_tok, $ws_tok, $bob_tok);
my $logs = slurp_file($primary->logfile) . slurp_file($standby->logfile);
is(scalar(grep { index($logs, $_) >= 0 } @tokens), 0, 'no token in either server log');

$standby->stop;
$primary->stop;
$ws->stop;
done_testing();
