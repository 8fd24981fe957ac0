# Transport policy of the key-refresh worker: certificates are verified
# (wrong CA or system store -> refused, no keys), plain HTTP is refused
# unless dbx_oauth.allow_insecure_http is on, and even then only to
# loopback hosts.  Removing an issuer drops its keys.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FakeWorkspace;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $ws = FakeWorkspace->start(dir => "$tmp/ws");
my $other = FakeWorkspace->start(dir => "$tmp/other");    # a different CA
my $plain = FakeWorkspace->start(dir => "$tmp/plain", http => 1);
like($plain->issuer, qr{^http://127\.0\.0\.1:}, 'plain-HTTP workspace on loopback');

my $node = PostgreSQL::Test::Cluster->new('keys_tls');
$node->init;
$node->append_conf('postgresql.conf', join("\n",
	"shared_preload_libraries = 'dbx_oauth'",
	"dbx_oauth.require_ssl = off",
	"dbx_oauth.issuers = '" . $ws->issuer . "'",
	"dbx_oauth.ca_file = '" . $other->ca_file . "'",
	"dbx_oauth.jwks_refresh_interval = '1h'",
	"dbx_oauth.http_timeout = 2000",
	""));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION dbx_oauth');

sub set_and_reload
{
	my (%settings) = @_;
	for my $name (sort keys %settings)
	{
		$node->safe_psql('postgres', "ALTER SYSTEM SET dbx_oauth.$name = '$settings{$name}'");
	}
	$node->reload;
}

sub error_of
{
	my ($issuer) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(last_error, '') FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'");
}

sub key_count
{
	my ($issuer) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM dbx_oauth.keys WHERE issuer = '$issuer'");
}

# --- certificate verification ---------------------------------------------
ok($node->poll_query_until('postgres',
	"SELECT last_error ~ 'certificate' FROM dbx_oauth.worker_status() WHERE issuer = '" . $ws->issuer . "'"),
	'wrong CA: certificate refused');
is(key_count($ws->issuer), '0', 'wrong CA: no keys');
is($ws->stats->{discovery}, 0, 'wrong CA: no request reached the issuer');

set_and_reload(ca_file => '');
ok($node->poll_query_until('postgres',
	"SELECT last_error ~ 'certificate' AND consecutive_failures >= 2
	 FROM dbx_oauth.worker_status() WHERE issuer = '" . $ws->issuer . "'"),
	'system CA store does not trust the private CA either');

set_and_reload(ca_file => $ws->ca_file);
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE issuer = '" . $ws->issuer . "'"),
	'right CA file: keys fetched after reload');
is(error_of($ws->issuer), '', 'right CA file: no error');

# --- plain HTTP ---------------------------------------------------------------
set_and_reload(issuers => $plain->issuer);
ok($node->poll_query_until('postgres',
	"SELECT last_error ~ 'plain http is not allowed' FROM dbx_oauth.worker_status()
	 WHERE issuer = '" . $plain->issuer . "'"),
	'plain-HTTP issuer refused by default');
is(key_count($plain->issuer), '0', 'plain-HTTP issuer: no keys');
is($plain->stats->{discovery}, 0, 'plain-HTTP issuer: no request sent');
is(key_count($ws->issuer), '0', 'keys of the removed issuer are dropped');
is($node->safe_psql('postgres', "SELECT count(*) FROM dbx_oauth.worker_status() WHERE issuer = '" . $ws->issuer . "'"),
	'0', 'status of the removed issuer is dropped');

set_and_reload(allow_insecure_http => 'on');
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE issuer = '" . $plain->issuer . "'"),
	'plain HTTP to loopback allowed with allow_insecure_http');
my $tok = $plain->mint(sub => 'bob@example.com');
is($node->safe_psql('postgres', "SELECT valid FROM dbx_oauth.token_status('$tok')"), 't',
	'token of the plain-HTTP issuer validates');

set_and_reload(issuers => 'http://example.com/oidc');
ok($node->poll_query_until('postgres',
	"SELECT last_error ~ 'only to loopback hosts' FROM dbx_oauth.worker_status()
	 WHERE issuer = 'http://example.com/oidc'"),
	'plain HTTP to a non-loopback host refused even when allowed');

$node->stop;
$_->stop for ($ws, $other, $plain);
done_testing();
