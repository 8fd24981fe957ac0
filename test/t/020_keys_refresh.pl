# Key-refresh worker, happy paths: keys appear after start, rotation at the
# issuer is picked up without a reload (unknown kid -> worker refresh),
# a removed key stops validating after a refresh, refresh_keys(), the
# persisted file, privileges, and jwks_file reload on SIGHUP.
use strict;
use warnings;

use Cwd ();
use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FakeWorkspace;

my $ws = FakeWorkspace->start(dir => PostgreSQL::Test::Utils::tempdir() . '/ws');

my $node = PostgreSQL::Test::Cluster->new('keys');
$node->init;
$node->append_conf('postgresql.conf', $ws->server_conf(
	"dbx_oauth.jwks_refresh_interval = '1h'",
	"dbx_oauth.http_timeout = 3000",
	"dbx_oauth.unknown_kid_wait = 5000",
));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION dbx_oauth');

sub token_status
{
	my ($tok) = @_;
	return $node->safe_psql('postgres',
		"SELECT valid || ':' || coalesce(reason, '') FROM dbx_oauth.token_status('$tok')");
}

sub kids
{
	return $node->safe_psql('postgres',
		"SELECT string_agg(kid, ',' ORDER BY kid) FROM dbx_oauth.keys WHERE issuer <> '*'");
}

# --- keys appear after start -------------------------------------------
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'discovery'"),
	'keys fetched by the worker after start');
my $first_kids = kids();
like($first_kids, qr/\S/, "kids in shared memory: $first_kids");

is($node->safe_psql('postgres',
	"SELECT issuer = '" . $ws->issuer . "' AND last_error IS NULL AND consecutive_failures = 0
	   AND last_success IS NOT NULL AND next_refresh > now() AND key_count > 0 AND source = 'discovery'
	 FROM dbx_oauth.worker_status() WHERE issuer <> '*'"),
	't', 'worker_status shows a healthy issuer');
# Same machine, same clock: the issuer's Date header is within the 1 s
# resolution (reported as 0), or a little more under load.
is($node->safe_psql('postgres',
	"SELECT abs(extract(epoch FROM clock_offset)) <= 2 FROM dbx_oauth.worker_status() WHERE issuer <> '*'"),
	't', 'worker_status shows a clock offset of about 0');

my $tok = $ws->mint(sub => 'alice@example.com');
is(token_status($tok), 'true:ok', 'token signed with the current key validates');

# --- persisted copy ----------------------------------------------------
my @files = glob($node->data_dir . '/dbx_oauth/*.json');
is(scalar @files, 1, 'one persisted keys file');
my $content = slurp_file($files[0]);
like($content, qr/"issuer":"\Q${\ $ws->issuer}\E"/, 'persisted file names the issuer');
unlike($content, qr/"d":/, 'persisted file holds no private key material');

# --- rotation: a token with a new kid validates without reload ----------
$ws->reset_stats;
my $new_kid = $ws->rotate_keys;
my $tok2 = $ws->mint(sub => 'alice@example.com');
is(token_status($tok2), 'true:ok', "token with rotated kid $new_kid validates without reload");
like(kids(), qr/\Q$new_kid\E/, 'rotated kid is in the keys view');
my $stats = $ws->stats;
cmp_ok($stats->{jwks}, '>=', 1, 'the unknown kid made the worker fetch the JWKS');

# --- removal: refresh_keys() drops a removed key -------------------------
$ws->remove_key($new_kid);
is($node->safe_psql('postgres', 'SELECT dbx_oauth.refresh_keys()'), 't',
	'refresh_keys() reports changed keys after removal');
unlike(kids(), qr/\Q$new_kid\E/, 'removed kid is gone from the keys view');
my $st = token_status($tok2);
like($st, qr/^false:unknown_kid/, "token signed with the removed key no longer validates ($st)");
is($node->safe_psql('postgres', 'SELECT dbx_oauth.refresh_keys()'), 'f',
	'refresh_keys() reports unchanged keys');

# --- privileges --------------------------------------------------------
$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN; CREATE ROLE mon LOGIN IN ROLE pg_monitor');
my ($rc, $out, $err) = $node->psql('postgres', 'SELECT dbx_oauth.refresh_keys()',
	extra_params => [ '-U', 'plain' ]);
like($err, qr/permission denied/, 'refresh_keys() is not executable by PUBLIC');
($rc, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM dbx_oauth.keys',
	extra_params => [ '-U', 'plain' ]);
like($err, qr/permission denied/, 'keys view is not readable by PUBLIC');
($rc, $out, $err) = $node->psql('postgres',
	'SELECT count(*) > 0 FROM dbx_oauth.keys, dbx_oauth.worker_status()',
	extra_params => [ '-U', 'mon' ]);
is($out, 't', 'pg_monitor members read keys and worker_status');

# --- jwks_file: loaded, reloaded on SIGHUP, source jwks_file -------------
my $jwks_path = Cwd::abs_path($node->basedir) . '/static_jwks.json';
# The fake's public JWKS: copy it into a file as static keys.
system_or_bail('curl', '-sS', '--cacert', $ws->ca_file, '-o', $jwks_path, $ws->jwks_uri);
$node->append_conf('postgresql.conf', "dbx_oauth.jwks_file = '$jwks_path'\n");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE issuer = '*' AND source = 'jwks_file'"),
	'jwks_file keys loaded after SIGHUP');
is($node->safe_psql('postgres',
	"SELECT last_error IS NULL FROM dbx_oauth.worker_status() WHERE issuer = '*'"),
	't', 'jwks_file status row is healthy');

# A broken file on reload keeps the previous keys and reports the error.
open(my $fh, '>', $jwks_path) or die;
print $fh "{not json";
close $fh;
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT last_error IS NOT NULL FROM dbx_oauth.worker_status() WHERE issuer = '*'"),
	'broken jwks_file shows an error in worker_status');
is($node->safe_psql('postgres', "SELECT count(*) > 0 FROM dbx_oauth.keys WHERE issuer = '*'"),
	't', 'previous jwks_file keys kept');

$node->stop;
$ws->stop;
done_testing();
