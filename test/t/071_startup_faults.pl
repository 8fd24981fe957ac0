# Issuer faults while the server starts with no persisted keys, and the
# faults 021_keys_failures.pl does not cover during refresh: issuer
# unreachable, host that resolves to nothing, TLS handshake failure (an
# https issuer answering plain HTTP), a 30-second stall bounded by
# http_timeout, a 10 MiB body, a truncated body, invalid JSON, a JWKS with
# zero usable keys.  In every case: logins with keys already known (the
# jwks_file keys) keep working, no backend waits longer than a bounded time,
# worker_status() shows the error, and the worker recovers by itself when
# the issuer returns.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use File::Path qw(rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use DbxOAuthNode;
use FakeWorkspace;

my $ws = FakeWorkspace->start(dir => PostgreSQL::Test::Utils::tempdir() . '/ws');
my $issuer = $ws->issuer;
# A second issuer whose host never resolves (.invalid is reserved, RFC 6761).
my $nx_issuer = 'https://dbx-oauth-test.invalid/oidc';
my $http_timeout_ms = 3000;
my $unknown_kid_wait_ms = 2000;

my $t = DbxOAuthNode->create('startup_faults', conf => join("\n",
	"dbx_oauth.issuers = '$issuer,$nx_issuer'",
	"dbx_oauth.ca_file = '" . $ws->ca_file . "'",
	"dbx_oauth.jwks_refresh_interval = '1h'",
	"dbx_oauth.http_timeout = $http_timeout_ms",
	"dbx_oauth.unknown_kid_wait = $unknown_kid_wait_ms",
	"log_statement = none",
	""));
my $node = $t->node;
my $alice = 'alice@example.com';
$node->safe_psql('postgres', qq{SELECT dbx_oauth.create_role('$alice', 'USER')});

# Tokens signed with the jwks_file keys (known before any fetch) for both
# issuers, and one signed by the workspace (valid only with fetched keys).
my $file_tok = $t->mint(sub => $alice, iss => $issuer);
my $nx_tok = $t->mint(sub => $alice, iss => $nx_issuer);
my $ws_tok = $ws->mint(sub => $alice);
my $unknown = $ws->mint_cli('--sub', $alice, '--header', 'kid="not-published-anywhere"');

sub status_of
{
	my ($iss) = @_;
	return $node->safe_psql('postgres',
		"SELECT consecutive_failures || '|' || coalesce(last_error, '') || '|' || key_count
		 FROM dbx_oauth.worker_status() WHERE issuer = '$iss'");
}

sub token_valid
{
	my ($tok) = @_;
	return $node->safe_psql('postgres', "SELECT valid FROM dbx_oauth.token_status('$tok')");
}

sub timed(&)
{
	my ($code) = @_;
	my $t0 = Time::HiRes::time();
	$code->();
	return Time::HiRes::time() - $t0;
}

# Healthy first: the workspace keys are fetched.
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'discovery' AND issuer = '$issuer'"),
	'healthy start: workspace keys fetched');
is(token_valid($ws_tok), 't', 'healthy start: workspace token validates');
ok($node->poll_query_until('postgres',
	"SELECT last_error ~* 'resolve' AND consecutive_failures > 0 FROM dbx_oauth.worker_status() WHERE issuer = '$nx_issuer'"),
	'an issuer host that resolves to nothing shows in worker_status');

# The checks made while a fault is active (phase = "startup" or "refresh").
sub check_during_fault
{
	my ($phase, $name, $expect_error, $keys_known) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT consecutive_failures > 0 AND last_error ~* '$expect_error' FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'"),
		"$phase, $name: worker_status shows the error")
	  or diag(status_of($issuer));

	my $elapsed = timed {
		$node->connect_ok($t->connstr($alice, $file_tok), "$phase, $name: login with a jwks_file key works",
			sql => 'SELECT current_user', expected_stdout => qr/^\Q$alice\E$/);
	};
	cmp_ok($elapsed, '<', 5, sprintf("$phase, $name: that login took %.1f s", $elapsed));
	$node->connect_ok($t->connstr($alice, $nx_tok), "$phase, $name: login for the unresolvable issuer's jwks_file token works",
		sql => 'SELECT 1', expected_stdout => qr/^1$/);

	# A token whose key is not known: the backend waits at most
	# unknown_kid_wait for a refresh, then answers.
	$elapsed = timed {
		if ($keys_known)
		{
			$node->connect_ok($t->connstr($alice, $ws_tok), "$phase, $name: login with the last good workspace keys works",
				sql => 'SELECT 1', expected_stdout => qr/^1$/);
		}
		else
		{
			$node->connect_fails($t->connstr($alice, $ws_tok), "$phase, $name: workspace token refused (no keys yet)",
				expected_stderr => qr/password authentication failed/,
				log_like => [qr/token login rejected: reason=(?:no_keys|unknown_kid)\b/]);
		}
	};
	cmp_ok($elapsed, '<', $unknown_kid_wait_ms / 1000 + 5,
		sprintf("$phase, $name: a login with an unknown key took %.1f s (bounded by unknown_kid_wait)", $elapsed));
	$elapsed = timed {
		is($node->safe_psql('postgres', "SELECT reason FROM dbx_oauth.token_status('$unknown')") =~ /^(?:unknown_kid|no_keys)$/ ? 1 : 0,
			1, "$phase, $name: unknown kid refused in SQL");
	};
	cmp_ok($elapsed, '<', $unknown_kid_wait_ms / 1000 + 5,
		sprintf("$phase, $name: token_status with an unknown kid took %.1f s", $elapsed));
}

sub check_recovered
{
	my ($phase, $name) = @_;
	# No refresh_keys(): the worker retries on its own (backoff from 2 s).
	ok($node->poll_query_until('postgres',
		"SELECT consecutive_failures = 0 AND last_error IS NULL AND key_count > 0 FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'"),
		"$phase, $name: the worker recovers by itself when the issuer returns")
	  or diag(status_of($issuer));
	is(token_valid($ws_tok), 't', "$phase, $name: workspace token validates again");
}

my $data = $node->data_dir;

# --- faults at startup, no persisted keys ----------------------------------
# [name, how to break, how to repair, expected worker error]
my @startup = (
	[ 'issuer unreachable', sub { $ws->stop }, sub { $ws->restart }, 'connect|refused' ],
	[ 'TLS handshake failure (plain HTTP on the https port)',
	  sub { $ws->restart(http => 1) }, sub { $ws->restart(http => 0) }, 'SSL|TLS|handshake' ],
	[ '30-second stall of discovery',
	  sub { $ws->fault(path => 'discovery', mode => 'slow', seconds => 30) }, sub { $ws->clear_faults },
	  "timed out after $http_timeout_ms ms" ],
	[ '10 MiB JWKS body',
	  sub { $ws->fault(path => 'jwks', mode => 'oversized', bytes => 10 * 1024 * 1024) }, sub { $ws->clear_faults },
	  'exceeds 1048576 bytes' ],
	[ '10 MiB discovery body',
	  sub { $ws->fault(path => 'discovery', mode => 'oversized', bytes => 10 * 1024 * 1024) }, sub { $ws->clear_faults },
	  'exceeds [0-9]+ bytes' ],
	[ 'truncated JWKS body',
	  sub { $ws->fault(path => 'jwks', mode => 'truncate') }, sub { $ws->clear_faults }, 'failed' ],
	[ 'invalid JSON discovery document',
	  sub { $ws->fault(path => 'discovery', mode => 'garbage') }, sub { $ws->clear_faults }, 'not valid JSON' ],
	[ 'invalid JSON JWKS',
	  sub { $ws->fault(path => 'jwks', mode => 'garbage') }, sub { $ws->clear_faults }, 'invalid JWKS' ],
	[ 'JWKS with zero usable keys',
	  sub { $ws->fault(path => 'jwks', mode => 'zero_keys') }, sub { $ws->clear_faults }, 'no usable keys|invalid JWKS' ],
);

for my $case (@startup)
{
	my ($name, $break, $repair, $expect) = @$case;
	$node->stop;
	rmtree("$data/dbx_oauth");
	$break->();
	my $elapsed = timed { $node->start };
	cmp_ok($elapsed, '<', 30, sprintf("startup, $name: server started in %.1f s", $elapsed));
	is($node->safe_psql('postgres', "SELECT count(*) FROM dbx_oauth.keys WHERE source <> 'jwks_file'"),
		'0', "startup, $name: no issuer keys (nothing persisted)");
	check_during_fault('startup', $name, $expect, 0);
	$repair->();
	check_recovered('startup', $name);
}

# --- faults during refresh that 021 does not cover -------------------------
my @refresh = (
	[ 'issuer unreachable', sub { $ws->stop }, sub { $ws->restart }, 'connect|refused' ],
	[ 'TLS handshake failure (plain HTTP on the https port)',
	  sub { $ws->restart(http => 1) }, sub { $ws->restart(http => 0) }, 'SSL|TLS|handshake' ],
	[ '30-second stall of the JWKS',
	  sub { $ws->fault(path => 'jwks', mode => 'slow', seconds => 30) }, sub { $ws->clear_faults },
	  "timed out after $http_timeout_ms ms" ],
	[ '10 MiB JWKS body',
	  sub { $ws->fault(path => 'jwks', mode => 'oversized', bytes => 10 * 1024 * 1024) }, sub { $ws->clear_faults },
	  'exceeds 1048576 bytes' ],
);
for my $case (@refresh)
{
	my ($name, $break, $repair, $expect) = @$case;
	$break->();
	my ($rc, $out, $err);
	my $elapsed = timed {
		($rc, $out, $err) = $node->psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
	};
	is($out, 'f', "refresh, $name: refresh_keys() reports no change");
	# One attempt per issuer, each bounded by http_timeout, plus slack.
	cmp_ok($elapsed, '<', 2 * $http_timeout_ms / 1000 + 10,
		sprintf("refresh, $name: refresh_keys() returned after %.1f s", $elapsed));
	check_during_fault('refresh', $name, $expect, 1);
	$repair->();
	check_recovered('refresh', $name);
}

# --- nothing crashed, nothing leaked -----------------------------------------
my $log = $t->server_log;
unlike($log, qr/terminated by signal|PANIC/, 'no process crashed');
my $leaks = grep { index($log, $_) >= 0 } ($file_tok, $nx_tok, $ws_tok);
is($leaks, 0, 'no token in the server log');

$node->stop;
$ws->stop;
done_testing();
