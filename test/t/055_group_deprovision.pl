# Deprovisioning at the workspace blocks the identity for every login and
# set_token (not only group logins), through the revocation mechanism with
# source group_sync: a deactivated user is blocked and unblocked when active
# again; a deleted user is blocked; an administrator's block is never lifted
# by the sync.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FakeWorkspace;
use GroupSyncNode;

my $ws = sync_workspace('sp-SECRET-value-055');

my ($alice, $erin, $bob, $dave) = map { "$_\@example.com" } qw(alice erin bob dave);
$ws->set_group('analysts', $alice, $erin, $bob, $dave);

my $node = sync_node('deprov', interval => 10, http_timeout => 3000, sql => qq{
	SELECT dbx_oauth.create_role('analysts', 'GROUP');
	SELECT dbx_oauth.create_role('$erin', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	SELECT dbx_oauth.create_role('$dave', 'USER');
});

sub blocks {
	return sqlv("SELECT coalesce(string_agg(identity || ':' || source || ':' || reason, ',' ORDER BY identity, source), '')
	             FROM dbx_oauth.revocations WHERE kind = 'identity-block'");
}
my $generic = qr/password authentication failed for user/;

ok($node->poll_query_until('postgres',
	"SELECT synced AND members = 4 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"), 'synced');
$node->connect_ok(connstr($erin, $ws->mint(sub => $erin)), 'erin logs in as herself');

# --- deactivation blocks every door ----------------------------------------
$ws->control('/users', { userName => $erin, active => JSON::PP::false });
ok($node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT 1 FROM dbx_oauth.revocations WHERE kind = 'identity-block' AND identity = '$erin' AND source = 'group_sync')"),
	'a deactivated user is blocked with source group_sync') or diag(blocks());
is(blocks(), "$erin:group_sync:deactivated at the workspace", 'with the reason');
$node->connect_fails(connstr($erin, $ws->mint(sub => $erin)), 'the deactivated user is refused as her own role',
	expected_stderr => $generic, log_like => [qr/reason=revoked/]);
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT dbx_oauth.set_token('" . $ws->mint(sub => $erin) . "')");
isnt($rc, 0, 'set_token refuses the deactivated user');
like(slurp_file($node->logfile), qr/LOG:.*identity "\Q$erin\E" blocked: deactivated at the workspace/, 'logged');

# --- reactivation unblocks ----------------------------------------------------
$ws->control('/users', { userName => $erin, active => JSON::PP::true });
ok($node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT 1 FROM dbx_oauth.revocations WHERE kind = 'identity-block' AND identity = '$erin')"),
	'reactivated: the block is lifted') or diag(blocks());
$node->connect_ok(connstr($erin, $ws->mint(sub => $erin)), 'erin logs in again');

# --- deletion blocks ------------------------------------------------------------
$ws->control('/users', { userName => $bob, delete => JSON::PP::true });
ok($node->poll_query_until('postgres',
	"SELECT EXISTS (SELECT 1 FROM dbx_oauth.revocations WHERE kind = 'identity-block' AND identity = '$bob' AND reason = 'deleted at the workspace')"),
	'a deleted user is blocked') or diag(blocks());
$node->connect_fails(connstr($bob, $ws->mint(sub => $bob)), 'the deleted user is refused as his own role',
	expected_stderr => $generic);

# --- an administrator's block stays ------------------------------------------
sqlv("SELECT dbx_oauth.block_identity('$dave', 'admin says no')");
$ws->control('/users', { userName => $dave, active => JSON::PP::false });
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM dbx_oauth.revocations WHERE kind = 'identity-block' AND identity = '$dave'"),
	'dave: the admin block and the sync block') or diag(blocks());
$ws->control('/users', { userName => $dave, active => JSON::PP::true });
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM dbx_oauth.revocations WHERE kind = 'identity-block' AND identity = '$dave' AND source = 'admin'"),
	'reactivation lifts only the sync block') or diag(blocks());
$node->connect_fails(connstr($dave, $ws->mint(sub => $dave)), 'the admin block still refuses dave',
	expected_stderr => $generic);

$node->stop;
$ws->stop;
done_testing();
