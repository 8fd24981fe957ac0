# The validated-token cache shared by all backends (src/pg/keys/shared_token_cache.h):
# a token validated by one login is reused by the next login's new backend,
# but never across a key change (same kid, other key), a settings change,
# its expiry, or a revocation.  Every step is a new connection, so only the
# shared cache can carry a result from one step to the next.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use File::Copy qw(copy);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $t = DbxOAuthNode->create('shared_cache');
my $node = $t->node;
my $alice = 'alice@example.com';
$node->safe_psql('postgres', qq{SELECT dbx_oauth.create_role('$alice', 'USER')});

my $generic = qr/password authentication failed for user/;

sub login_ok {
	my ($tok, $name) = @_;
	$node->connect_ok($t->connstr($alice, $tok), $name,
		sql => 'SELECT current_user, dbx_oauth.current_identity()',
		expected_stdout => qr/^\Q$alice|$alice\E$/);
}

sub login_fails {
	my ($tok, $reason, $name) = @_;
	$node->connect_fails($t->connstr($alice, $tok), $name,
		expected_stderr => $generic,
		log_like => [qr/dbx_oauth: token login rejected: reason=$reason\b/]);
}

sub jwks_loaded_after {
	my ($before) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT fetched_at > '$before' FROM dbx_oauth.keys WHERE issuer = '*' AND kid = 'login-rsa'"),
		'jwks_file reloaded');
}

sub setting_seen {
	my ($value) = @_;
	ok($node->poll_query_until('postgres',
		"SELECT current_setting('dbx_oauth.audience') = '$value'"), "audience '$value' in new backends");
}

my $tok = $t->mint(sub => $alice);
login_ok($tok, 'first login validates the token');
login_ok($tok, 'a second login (new backend) with the same token');

# --- the same kid with another key: the cached result must not survive ----
my $jwks = $t->keys_dir . '/jwks.json';
my $other = $node->basedir . '/other_keys';
ok(PostgreSQL::Test::Utils::run_log(["$FindBin::RealBin/../fixtures/mint", 'keygen', '--dir', $other,
	'--kid', 'login-rsa', '--type', 'rsa2048', '--kid', 'login-ec', '--type', 'ec256']),
	'a second key set with the same kids');
copy($jwks, "$jwks.orig") or die $!;
my $before = $node->safe_psql('postgres', q{SELECT max(fetched_at) FROM dbx_oauth.keys WHERE issuer = '*'});
copy("$other/jwks.json", $jwks) or die $!;
$node->reload;
jwks_loaded_after($before);
login_fails($tok, 'bad_signature', 'after the key behind its kid changed, the cached token is refused');

$before = $node->safe_psql('postgres', q{SELECT max(fetched_at) FROM dbx_oauth.keys WHERE issuer = '*'});
copy("$jwks.orig", $jwks) or die $!;
$node->reload;
jwks_loaded_after($before);
login_ok($tok, 'with the original key back the token logs in again');

# --- a settings change: entries validated under other settings miss --------
$node->safe_psql('postgres', q{ALTER SYSTEM SET dbx_oauth.audience = 'another-workspace'});
$node->reload;
setting_seen('another-workspace');
login_fails($tok, 'audience_mismatch', 'after the audience changed, the cached token is refused');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET dbx_oauth.audience});
$node->reload;
setting_seen('');
login_ok($tok, 'with the audience reset the token logs in again');

# --- expiry: the cache never extends a token's life -------------------------
# Without clock skew, so that exp itself is the limit.
$node->safe_psql('postgres', q{ALTER SYSTEM SET dbx_oauth.clock_skew = 0});
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT current_setting('dbx_oauth.clock_skew') = '0'}),
	'clock skew 0 in new backends');
my $minted = time();
my $short = $t->mint(sub => $alice, lifetime => 8);
login_ok($short, 'a short-lived token logs in');
login_ok($short, 'and again, from the shared cache');
my $wait = $minted + 10 - time();
sleep $wait if $wait > 0;
login_fails($short, 'expired', 'once expired it is refused although it was cached');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET dbx_oauth.clock_skew});
$node->reload;

# --- revocation applies to a cached token -----------------------------------
login_ok($tok, 'the long-lived token is cached again');
$node->safe_psql('postgres', qq{SELECT dbx_oauth.revoke_token('$tok')});
login_fails($tok, 'revoked', 'a revoked token is refused although it was cached');


done_testing();
