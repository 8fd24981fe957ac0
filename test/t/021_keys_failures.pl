# Key-refresh worker under issuer failures: garbage, oversized, HTTP 500,
# slow, truncated, zero keys, a discovery document for another issuer or
# with a plain-http jwks_uri.  Every failure keeps the last good keys and
# shows in worker_status(); a flood of unknown kids causes a bounded number
# of fetches and no long waits.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use FakeWorkspace;

my $ws = FakeWorkspace->start(dir => PostgreSQL::Test::Utils::tempdir() . '/ws');

my $node = PostgreSQL::Test::Cluster->new('keys_failures');
$node->init;
$node->append_conf('postgresql.conf', $ws->server_conf(
	# Only refresh_keys() and unknown kids cause fetches in this test.
	"dbx_oauth.jwks_refresh_interval = '1h'",
	"dbx_oauth.http_timeout = 2000",
	"dbx_oauth.unknown_kid_wait = 5000",
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION dbx_oauth');

ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'discovery'"),
	'keys fetched after start');
my $kids_before = $node->safe_psql('postgres',
	"SELECT string_agg(kid, ',' ORDER BY kid) FROM dbx_oauth.keys");
my $tok = $ws->mint(sub => 'alice@example.com');

sub status_row
{
	return $node->safe_psql('postgres',
		"SELECT consecutive_failures || '|' || coalesce(last_error, '')
		 FROM dbx_oauth.worker_status() WHERE issuer = '" . $ws->issuer . "'");
}

# Each fault: the refresh fails, the error is visible, the keys stay.
my @faults = (
	[ 'jwks HTTP 500', { path => 'jwks', mode => 'status', status => 500 }, qr/HTTP status 500 from https:/ ],
	[ 'jwks garbage', { path => 'jwks', mode => 'garbage' }, qr/invalid JWKS/ ],
	[ 'jwks oversized', { path => 'jwks', mode => 'oversized', bytes => 3 * 1024 * 1024 }, qr/exceeds 1048576 bytes/ ],
	[ 'jwks slow', { path => 'jwks', mode => 'slow', seconds => 6 }, qr/timed out after 2000 ms/ ],
	[ 'jwks truncated', { path => 'jwks', mode => 'truncate' }, qr/JWKS fetch failed/ ],
	[ 'jwks connection closed', { path => 'jwks', mode => 'close' }, qr/JWKS fetch failed/ ],
	[ 'jwks without keys', { path => 'jwks', mode => 'zero_keys' }, qr/no usable keys|invalid JWKS/ ],
	[ 'discovery HTTP 503', { path => 'discovery', mode => 'status', status => 503 }, qr/discovery failed: HTTP status 503 \(https:/ ],
	[ 'discovery garbage', { path => 'discovery', mode => 'garbage' }, qr/discovery document is not valid JSON/ ],
	[ 'discovery for another issuer',
	  { path => 'discovery', mode => 'body', body => { issuer => 'https://evil.example.com/oidc', jwks_uri => $ws->jwks_uri } },
	  qr/names issuer "https:\/\/evil\.example\.com\/oidc", expected/ ],
	[ 'discovery with plain-http jwks_uri',
	  { path => 'discovery', mode => 'body', body => { issuer => $ws->issuer, jwks_uri => 'http://127.0.0.1:1/jwks' } },
	  qr/jwks_uri .* refused: plain http is not allowed/ ],
);

for my $f (@faults)
{
	my ($name, $spec, $expect) = @$f;
	$ws->fault(%$spec);
	my ($rc, $out, $err) = $node->psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
	is($out, 'f', "$name: refresh_keys() reports no change");
	like($err, qr/could not refresh the keys of every issuer/, "$name: refresh_keys() warns");
	my $row = status_row();
	like($row, qr/^[1-9]\d*\|/, "$name: consecutive failures counted");
	like($row, $expect, "$name: worker_status shows the error");
	is($node->safe_psql('postgres', "SELECT string_agg(kid, ',' ORDER BY kid) FROM dbx_oauth.keys"),
		$kids_before, "$name: last good keys kept");
	is($node->safe_psql('postgres', "SELECT valid FROM dbx_oauth.token_status('$tok')"),
		't', "$name: tokens still validate");
	$ws->clear_faults;
}

$node->safe_psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
is(status_row(), '0|', 'healthy again after the faults are cleared');
# (log_statement=all logs the test's own queries; the worker's lines must
# never carry a token.)
my @worker_lines = grep { /dbx_oauth: / } split /\n/, slurp_file($node->logfile);
ok(@worker_lines > 0 && !grep({ /eyJ/ } @worker_lines), 'no token in the worker log lines');

# --- unknown-kid flood ---------------------------------------------------
# Distinct unknown kids, each presented several times, from two sessions.
my @bad;
for my $i (1 .. 5)
{
	my $kid = sprintf('%064x', int(rand(2**31)) * 7919 + $i);
	push @bad, $ws->mint(sub => 'alice@example.com', headers => { kid => $kid });
}
my $array = "ARRAY['" . join("','", (@bad) x 10) . "']";
my $flood = "SELECT count(*) FILTER (WHERE NOT s.valid AND s.reason = 'unknown_kid')
             FROM unnest($array) t, LATERAL dbx_oauth.token_status(t) s";

$ws->reset_stats;
my $t0 = Time::HiRes::time();
my $bg = $node->background_psql('postgres');
$bg->query_until(qr/started/, "\\echo started\n$flood;\n");
is($node->safe_psql('postgres', $flood), '50', '50 unknown-kid tokens rejected');
$bg->quit;
my $elapsed = Time::HiRes::time() - $t0;
cmp_ok($elapsed, '<', 20, sprintf('100 unknown-kid validations took %.1f s (rate-limited, no long waits)', $elapsed));
my $during = $ws->stats->{jwks};
cmp_ok($during, '<=', 2, "JWKS fetched $during time(s) during the flood");

# The rate limit window is 10 s: at most one deferred refresh after it.
sleep 12;
my $after = $ws->stats->{jwks};
cmp_ok($after, '<=', 3, "JWKS fetched $after time(s) in total for 100 unknown-kid validations");
is($node->safe_psql('postgres', "SELECT valid FROM dbx_oauth.token_status('$tok')"),
	't', 'good token still validates after the flood');

$node->stop;
$ws->stop;
done_testing();
