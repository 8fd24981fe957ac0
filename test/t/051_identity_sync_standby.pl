# Identity sync on a hot standby: it publishes workspace membership for its
# own logins but never writes (no GRANT, no REVOKE, no tracking rows).  The
# primary has the sync switched off, so every grant seen on the standby
# would have to come from the standby itself.
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
my $client = 'b0c1e2d3-0000-4000-8000-0000000057b1';
my $secret = 'standby-SECRET-1a2b3c';
$ws->add_client($client, $secret);
my $secret_file = "$tmp/sp.secret";
open my $fh, '>', $secret_file or die $!;
print $fh "$secret\n";
close $fh;
chmod 0600, $secret_file;

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';
$ws->set_group('analysts', $alice, $bob);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $ws->server_conf(
	"dbx_oauth.http_timeout = 3000",
));
$primary->start;
$primary->safe_psql('postgres', qq{
	CREATE EXTENSION dbx_oauth;
	SELECT dbx_oauth.create_role('analysts', 'GROUP');
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
});
$primary->backup('b');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf('postgresql.conf', join("\n",
	"dbx_oauth.client_id = '$client'",
	"dbx_oauth.client_secret_file = '$secret_file'",
	"dbx_oauth.group_sync_interval = 10",
	""));
$standby->start;
$primary->wait_for_catchup($standby);

sub on_standby { return $standby->safe_psql('postgres', $_[0]); }
sub connstr { my ($user, $tok) = @_; return "user='$user' dbname=postgres password='$tok'"; }

is($primary->safe_psql('postgres', 'SELECT mode FROM dbx_oauth.identity_sync_status()'), 'disabled',
	'sync is off on the primary');
ok($standby->poll_query_until('postgres',
	"SELECT mode = 'standby' AND has_token AND extension_installed FROM dbx_oauth.identity_sync_status()"),
	'standby worker runs in standby mode with a token')
  or diag(on_standby('SELECT * FROM dbx_oauth.identity_sync_status()'));
ok($standby->poll_query_until('postgres',
	"SELECT synced AND members = 2 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"),
	'standby publishes the membership')
  or diag(on_standby('SELECT * FROM dbx_oauth.group_sync_status()'));

$standby->connect_ok(connstr('analysts', $ws->mint(sub => $alice)), 'a member logs in as the group on the standby',
	sql => 'SELECT current_user, pg_is_in_recovery()', expected_stdout => qr/^analysts\|t$/);
$primary->connect_fails(connstr('analysts', $ws->mint(sub => $alice)),
	'on the primary (no sync, no catalog grant) the same login is refused',
	expected_stderr => qr/password authentication failed/);

# Removal at the workspace reaches the standby's logins.
$ws->set_group('analysts', $bob);
ok($standby->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT 1 FROM dbx_oauth.group_members WHERE member_identity = '$alice')"),
	'the standby drops a removed member at its next sync');
$standby->connect_fails(connstr('analysts', $ws->mint(sub => $alice)), 'removed member refused on the standby',
	expected_stderr => qr/password authentication failed/, log_like => [qr/reason=not_a_group_member/]);
$standby->connect_ok(connstr('analysts', $ws->mint(sub => $bob)), 'remaining member still allowed on the standby');

# Nothing written: no grants on either side, no reconcile attempted.
$primary->wait_for_catchup($standby);
is(on_standby("SELECT count(*) FROM pg_auth_members am JOIN pg_roles g ON g.oid = am.roleid WHERE g.rolname = 'analysts'"),
	'0', 'no GRANT of the group role');
is(on_standby('SELECT count(*) FROM dbx_oauth.group_sync_grants'), '0', 'no tracking rows');
is(on_standby('SELECT last_reconcile IS NULL AND reconcile_error IS NULL AND grants_made = 0 AND revokes_made = 0
	FROM dbx_oauth.identity_sync_status()'), 't', 'the standby never reconciled');
my $log = slurp_file($standby->logfile);
unlike($log, qr/read-only transaction|could not reconcile/, 'no write was attempted on the standby');
unlike($log, qr/\Q$secret\E/, 'the secret is not in the standby log');

$standby->stop;
$primary->stop;
$ws->stop;
done_testing();
