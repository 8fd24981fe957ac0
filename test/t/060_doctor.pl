# dbx_oauth.doctor(): every check is made to fail and then to pass on a real
# cluster (settings through ALTER SYSTEM + reload, pg_hba.conf rewritten on
# disk, restarts for preload, the worker and the startup WARNING), starting
# from a configuration where everything is ok: a fake workspace as issuer,
# keys fetched over HTTPS, audience set, ssl on, token lines hostssl.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FakeWorkspace;

my $ws = FakeWorkspace->start(dir => PostgreSQL::Test::Utils::tempdir() . '/ws');

my $node = PostgreSQL::Test::Cluster->new('doctor');
$node->init;
my $data = $node->data_dir;
PostgreSQL::Test::Utils::system_or_bail('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
	'-keyout', "$data/server.key", '-out', "$data/server.crt", '-subj', '/CN=127.0.0.1', '-days', '2');
chmod 0600, "$data/server.key";
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'dbx_oauth'",
	"dbx_oauth.issuers = '" . $ws->issuer . "'",
	"dbx_oauth.ca_file = '" . $ws->ca_file . "'",
	"dbx_oauth.audience = '" . $ws->workspace_id . "'",
	"dbx_oauth.jwks_refresh_interval = '1h'",
	"dbx_oauth.http_timeout = 3000",
	"listen_addresses = '127.0.0.1'",
	"ssl = on",
	"log_connections = on",
	""));

# The baseline pg_hba.conf: local trust for the test harness, token logins
# on hostssl only, everyone else by password.
my @good_hba = (
	'local all all trust',
	'hostssl all +dbx_oauth_users 127.0.0.1/32 trust',
	'host all all 127.0.0.1/32 scram-sha-256',
);

sub set_hba
{
	my @lines = @_;
	open my $fh, '>', "$data/pg_hba.conf" or die $!;
	print $fh map { "$_\n" } @lines;
	close $fh;
	return;
}
set_hba(@good_hba);
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION dbx_oauth;
	SELECT dbx_oauth.create_role('alice@example.com', 'USER');
	SELECT dbx_oauth.create_role('bob@example.com', 'USER');
	CREATE ROLE plain LOGIN;
});
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'discovery'"),
	'keys fetched from the fake workspace');

# "status" of one check (several rows, e.g. one per issuer: joined with ,).
sub doctor
{
	my ($check) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(status, ',') FROM dbx_oauth.doctor() WHERE \"check\" = '$check'");
}

sub detail
{
	my ($check) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(detail, ' | ') FROM dbx_oauth.doctor() WHERE \"check\" = '$check'");
}

# Everything that is not ok, as "check=status ..." (the clock check has its
# own section below).
sub not_ok
{
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(\"check\" || '=' || status, ' '), '') FROM dbx_oauth.doctor()
		 WHERE status <> 'ok' AND \"check\" <> 'clock'");
}

# ALTER SYSTEM + reload, then wait until new sessions see the value
# (undef: back to the default).
sub set_conf
{
	my ($name, $value) = @_;
	my $v = defined $value ? "'$value'" : 'DEFAULT';
	$node->safe_psql('postgres', "ALTER SYSTEM SET $name = $v; SELECT pg_reload_conf();");
	my $applied = defined $value
	  ? "SELECT current_setting('$name') = '$value'"
	  : "SELECT coalesce(sourcefile, '') NOT LIKE '%postgresql.auto.conf' FROM pg_settings WHERE name = '$name'";
	$node->poll_query_until('postgres', $applied) or die "setting $name was not applied";
	return;
}

sub check_cycle
{
	my ($check, $bad, $good, $break, $fix) = @_;
	$break->();
	is(doctor($check), $bad, "$check: $bad when broken");
	$fix->();
	is(doctor($check), $good, "$check: $good again when fixed");
	return;
}

# ------------------------------------------------------------ baseline
is(not_ok(), '', 'a correct configuration: every check is ok');
like(detail('worker'), qr/running \(pid \d+\)/, 'worker: pid shown');

# ------------------------------------------------------------ settings
check_cycle('issuers', 'error', 'ok',
	sub { set_conf('dbx_oauth.issuers', '') },
	sub { set_conf('dbx_oauth.issuers', $ws->issuer) });

check_cycle('audience', 'warning', 'ok',
	sub { set_conf('dbx_oauth.audience', '') },
	sub { set_conf('dbx_oauth.audience', $ws->workspace_id) });

check_cycle('expired_session_action', 'warning', 'ok',
	sub { set_conf('dbx_oauth.max_session_age', '0') },
	sub { set_conf('dbx_oauth.max_session_age', undef) });
set_conf('dbx_oauth.max_session_age', '0');
set_conf('dbx_oauth.expired_session_action', 'terminate');
is(doctor('expired_session_action'), 'ok', 'expired_session_action: terminate with max_session_age 0 is ok');
set_conf('dbx_oauth.expired_session_action', undef);
set_conf('dbx_oauth.max_session_age', undef);

check_cycle('allow_insecure_http', 'warning', 'ok',
	sub { set_conf('dbx_oauth.allow_insecure_http', 'on') },
	sub { set_conf('dbx_oauth.allow_insecure_http', undef) });

check_cycle('max_token_lifetime', 'warning', 'ok',
	sub { set_conf('dbx_oauth.max_token_lifetime', '2d') },
	sub { set_conf('dbx_oauth.max_token_lifetime', '1h') });
set_conf('dbx_oauth.max_token_lifetime', undef);

# The accepted-login line (the audit trail) follows log_connections.
check_cycle('login_log', 'warning', 'ok',
	sub { set_conf('log_connections', 'off') },
	sub { set_conf('log_connections', undef) });
like(detail('login_log'), qr/log_connections is on/, 'login_log: the detail names the setting');

# ------------------------------------------------------- keys and refresh
# An issuer nobody answers for: no keys (error) and failed refreshes.
my $dead = 'https://127.0.0.1:1/oidc';
set_conf('dbx_oauth.issuers', $dead);
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM dbx_oauth.worker_status() WHERE issuer = '$dead' AND last_attempt IS NOT NULL"),
	'the worker tried the unreachable issuer');
is(doctor('issuer_keys'), 'error', 'issuer_keys: error for an issuer without keys');
like(detail('issuer_keys'), qr/no signing keys.*Last error:/, 'issuer_keys: the detail says why');
set_conf('dbx_oauth.issuers', $ws->issuer);
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE issuer = '" . $ws->issuer . "'"),
	'keys back');
is(doctor('issuer_keys'), 'ok', 'issuer_keys: ok again');

check_cycle('key_refresh', 'warning', 'ok',
	sub {
		$ws->fault(path => 'discovery', mode => 'status', status => 503);
		$node->psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
	},
	sub {
		$ws->clear_faults;
		$node->safe_psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
	});
is(doctor('issuer_keys'), 'ok', 'issuer_keys stayed ok while refreshes failed (last good keys)');

# ------------------------------------------------------------------ clock
# The worker compares the issuer's Date header with the server clock; the
# fake workspace runs on this machine, so only a skewed Date header makes a
# difference.  Each change takes effect at the next fetch (refresh_keys()).
sub clock_after_refresh
{
	my ($offset) = @_;
	$ws->set_clock_offset($offset);
	$node->safe_psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
	return doctor('clock');
}
is(doctor('clock'), 'ok', 'clock: ok when the issuer\'s Date header matches the server clock');
like(detail('clock'), qr/within 1 s of every issuer/, 'clock: detail');
is(clock_after_refresh(600), 'error', 'clock: error when the issuer is 600 s ahead');
like(detail('clock'), qr/server clock is (599|600|601) s behind the clock of issuer \Q${\ $ws->issuer}\E, more than dbx_oauth.clock_skew \(60 s\)/,
	'clock: the detail says by how much and which way');
is($node->safe_psql('postgres', 'SELECT extract(epoch FROM clock_offset) BETWEEN 598 AND 601 FROM dbx_oauth.worker_status() WHERE issuer <> \'*\''),
	't', 'worker_status().clock_offset: about +600 s');
is(clock_after_refresh(-30), 'warning', 'clock: warning when the issuer is 30 s behind (more than 5 s, within clock_skew)');
like(detail('clock'), qr/server clock is (29|30|31) s ahead of the clock of issuer/, 'clock: ahead of');
set_conf('dbx_oauth.clock_skew', '10s');
is(doctor('clock'), 'error', 'clock: 30 s is an error with clock_skew = 10s');
set_conf('dbx_oauth.clock_skew', undef);
# A failed refresh keeps the last measurement.
$ws->fault(path => 'discovery', mode => 'status', status => 503);
$node->psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
$ws->clear_faults;
is(doctor('clock'), 'warning', 'clock: a failed refresh keeps the last measurement');
is(clock_after_refresh(0), 'ok', 'clock: ok again after the skew is gone');
is($node->safe_psql('postgres', 'SELECT abs(extract(epoch FROM clock_offset)) <= 2 FROM dbx_oauth.worker_status() WHERE issuer <> \'*\''),
	't', 'worker_status().clock_offset: about 0 again');

# ------------------------------------------------------------------ roles
check_cycle('role_guard', 'error', 'ok',
	sub { $node->safe_psql('postgres', 'ALTER ROLE "alice@example.com" RESET session_preload_libraries') },
	sub { $node->safe_psql('postgres', q{ALTER ROLE "alice@example.com" SET session_preload_libraries = 'dbx_oauth'}) });

check_cycle('role_label', 'error', 'ok',
	sub { $node->safe_psql('postgres', 'REVOKE dbx_oauth_users FROM "bob@example.com"') },
	sub { $node->safe_psql('postgres', 'GRANT dbx_oauth_users TO "bob@example.com"') });

check_cycle('role_label', 'warning', 'ok',
	sub { $node->safe_psql('postgres', 'GRANT dbx_oauth_users TO plain') },
	sub { $node->safe_psql('postgres', 'REVOKE dbx_oauth_users FROM plain') });

# --------------------------------------------------------------- pg_hba
check_cycle('hba_file', 'warning', 'ok',
	sub { set_hba(@good_hba, 'hostssl all all 127.0.0.1/32 no-such-method') },
	sub { set_hba(@good_hba) });

set_conf('dbx_oauth.require_ssl', 'off');
is(doctor('hba_trust_ssl'), 'ok', 'hba_trust_ssl: require_ssl off but only hostssl and local lines: ok');
check_cycle('hba_trust_ssl', 'warning', 'ok',
	sub { set_hba('local all all trust', 'host all +dbx_oauth_users 127.0.0.1/32 trust') },
	sub { set_hba(@good_hba) });

check_cycle('hba_trust_remote', 'error', 'ok',
	sub { set_hba(@good_hba, 'hostnossl all all 10.0.0.0/8 trust') },
	sub { set_hba(@good_hba) });
# A line for other roles only, or one shadowed by an earlier line, is not a finding.
set_hba('local all all trust', 'host all +dbx_oauth_users 0.0.0.0/0 reject',
	'hostnossl all all 10.0.0.0/8 trust', 'host all plain 0.0.0.0/0 trust');
is(doctor('hba_trust_remote'), 'ok', 'hba_trust_remote: lines shadowed or for other roles are ignored');
set_hba(@good_hba, 'hostnossl all all 10.0.0.0/8 trust');
set_conf('dbx_oauth.require_ssl', undef);
is(doctor('hba_trust_remote'), 'ok', 'hba_trust_remote: require_ssl on refuses such logins: ok');
is(doctor('hba_trust_ssl'), 'ok', 'hba_trust_ssl: require_ssl on: ok');
set_hba(@good_hba);

# Trust lines that admit roles the token check never sees: every line is
# read, whichever roles it could match.
check_cycle('hba_trust_open', 'error', 'ok',
	sub { set_hba(@good_hba, 'host all all 0.0.0.0/0 trust') },
	sub { set_hba(@good_hba) });
set_hba(@good_hba, 'host all all 0.0.0.0/0 trust');
like(not_ok(), qr/\bhba_trust_open=error\b/,
	'hba_trust_open: "WHERE status <> \'ok\'" is not empty while anyone can log in from the network');
like(detail('hba_trust_open'), qr/line 4 \(host all 0\.0\.0\.0\)/, 'hba_trust_open: the detail names the line');
check_cycle('hba_trust_open', 'warning', 'ok',
	sub { set_hba('local all all trust', 'hostssl all all 127.0.0.1/32 trust', @good_hba[1 .. $#good_hba]) },
	sub { set_hba(@good_hba) });
check_cycle('hba_trust_open', 'error', 'ok',
	sub { set_hba(@good_hba, 'hostssl all postgres,+dbx_oauth_users samenet trust') },
	sub { set_hba(@good_hba) });
check_cycle('hba_trust_open', 'warning', 'ok',
	sub { set_hba(@good_hba, 'host all plain 127.0.0.1/32 trust') },
	sub { set_hba(@good_hba) });
set_hba('local all all trust', 'hostssl all +dbx_oauth_users 0.0.0.0/0 trust',
	'hostssl all "alice@example.com" ::1/128 trust', 'host all all 127.0.0.1/32 scram-sha-256');
is(doctor('hba_trust_open'), 'ok', 'hba_trust_open: trust lines for OAuth roles only are ok from anywhere');
set_hba(@good_hba);

check_cycle('hba_replication', 'error', 'ok',
	sub { set_hba(@good_hba, 'host replication all 10.0.0.0/8 trust') },
	sub { set_hba(@good_hba) });
check_cycle('hba_replication', 'error', 'ok',
	sub { set_hba(@good_hba, 'hostssl replication +dbx_oauth_users 127.0.0.1/32 trust') },
	sub { set_hba(@good_hba) });
check_cycle('hba_replication', 'warning', 'ok',
	sub { set_hba(@good_hba, 'local replication all trust') },
	sub { set_hba(@good_hba) });

# An admin granted an OAuth role is an indirect member of dbx_oauth_users
# without a label: refused on every trust line.
check_cycle('role_indirect', 'warning', 'ok',
	sub { $node->safe_psql('postgres', 'CREATE ROLE some_admin LOGIN; GRANT "alice@example.com" TO some_admin') },
	sub { $node->safe_psql('postgres', 'REVOKE "alice@example.com" FROM some_admin') });
$node->safe_psql('postgres', 'GRANT "alice@example.com" TO some_admin');
like(detail('role_indirect'), qr/some_admin/, 'role_indirect: names the role');
$node->safe_psql('postgres', 'DROP ROLE some_admin');

check_cycle('hba_method', 'error', 'ok',
	sub { set_hba('local all all peer', @good_hba) },
	sub { set_hba('local all +dbx_oauth_users trust', 'local all all peer', @good_hba[1 .. $#good_hba]) });
check_cycle('hba_method', 'error', 'ok',
	sub { set_hba(@good_hba, 'hostssl all "bob@example.com" 127.0.0.2/32 cert') },
	sub { set_hba(@good_hba) });
like(detail('hba_method'), qr/trust/, 'hba_method: detail');
# scram line for everyone (baseline line 3): harmless until an OAuth role has a password
check_cycle('hba_method', 'error', 'ok',
	sub { $node->safe_psql('postgres', q{ALTER ROLE "alice@example.com" PASSWORD 'not-a-token'}) },
	sub { $node->safe_psql('postgres', 'ALTER ROLE "alice@example.com" PASSWORD NULL') });
unlike(detail('hba_method') . detail('role_guard'), qr/not-a-token/, 'no password in the output');

# The shared-pool authenticator (docs/pooling.md): a password role granted
# OAuth roles, with its own scram line before the trust line, is no finding.
$node->safe_psql('postgres', q{
	CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD 'pool-secret';
	GRANT "alice@example.com" TO authenticator;
});
set_hba('local all all trust', 'hostssl all authenticator 127.0.0.1/32 scram-sha-256', @good_hba[1 .. $#good_hba]);
is(not_ok(), '', 'authenticator pattern: every check is ok');
set_hba(@good_hba);

check_cycle('ssl', 'error', 'ok',
	sub { set_conf('ssl', 'off') },
	sub { set_conf('ssl', undef) });
set_conf('ssl', 'off');
set_hba('local all all trust', 'host all plain 127.0.0.1/32 trust');
is(doctor('ssl'), 'ok', 'ssl: off is ok when no TCP line can match an OAuth role');
set_hba(@good_hba);
set_conf('ssl', undef);

is(not_ok(), '', 'everything is ok again');

# ----------------------------------------------------------------- worker
my $pid = $node->safe_psql('postgres', 'SELECT dbx_oauth.key_worker_pid()');
like($pid, qr/^\d+$/, 'key_worker_pid');
kill 'TERM', $pid;    # a clean exit: the postmaster does not restart it
ok($node->poll_query_until('postgres', 'SELECT dbx_oauth.key_worker_pid() IS NULL'), 'worker gone');
is(doctor('worker'), 'error', 'worker: error when the key-refresh worker is not running');

# ------------------------------------------------ startup WARNING, preload
$node->safe_psql('postgres', 'ALTER ROLE "bob@example.com" RESET session_preload_libraries');
my $offset = -s $node->logfile;
$node->restart;
ok($node->wait_for_log(qr/WARNING:  dbx_oauth: configuration check "role_guard" failed/, $offset),
	'startup: a WARNING for an error-level finding');
is(doctor('worker'), 'ok', 'worker: ok after the restart');
$node->safe_psql('postgres', q{ALTER ROLE "bob@example.com" SET session_preload_libraries = 'dbx_oauth'});
$offset = -s $node->logfile;
$node->restart;
ok($node->wait_for_log(qr/dbx_oauth: startup configuration check found no errors/, $offset),
	'startup: no errors, no WARNING');
unlike(substr(PostgreSQL::Test::Utils::slurp_file($node->logfile), $offset),
	qr/configuration check "/, 'startup: no finding logged for a correct configuration');

$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
is(doctor('preload'), 'error', 'preload: error when dbx_oauth is not in shared_preload_libraries');
like(detail('preload'), qr/not in shared_preload_libraries/, 'preload: detail');
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'dbx_oauth'\n");
$node->restart;
is(doctor('preload'), 'ok', 'preload: ok again');

$node->stop;
$ws->stop;
done_testing();
