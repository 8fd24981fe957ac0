# Every kind of membership change at the workspace is enforced within one
# group_sync_interval, without sync_groups(): a direct add and removal, a
# member added to and removed from a nested group, a user deactivated (refused
# for every group at once), a user deleted, and a user reactivated.  Nothing
# the workspace answered is cached beyond one round.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FakeWorkspace;
use GroupSyncNode;

my $ws = sync_workspace('sp-SECRET-value-052');

my $interval = 10;
my ($alice, $bob, $erin, $frank) = map { "$_\@example.com" } qw(alice bob erin frank);
$ws->set_group('contractors', $erin);
$ws->set_group('analysts', $alice, 'group:contractors');
$ws->set_group('engineers', $erin, $bob);

my $node = sync_node('changes', interval => $interval, http_timeout => 3000, sql => q{
	SELECT dbx_oauth.create_role('analysts', 'GROUP');
	SELECT dbx_oauth.create_role('engineers', 'GROUP');
});

my $generic = qr/password authentication failed for user/;
sub is_member {
	my ($group, $who) = @_;
	return "SELECT EXISTS (SELECT 1 FROM dbx_oauth.group_members WHERE group_name = '$group' AND member_identity = '$who')";
}

ok($node->poll_query_until('postgres',
	"SELECT count(*) = 2 FROM dbx_oauth.group_sync_status() WHERE synced AND found AND consecutive_failures = 0"),
	'both groups synced')
  or diag(sqlv("SELECT * FROM dbx_oauth.group_sync_status()") . "\n" . sqlv("SELECT * FROM dbx_oauth.identity_sync_status()"));
$node->connect_ok(connstr('analysts', $ws->mint(sub => $erin)), 'erin logs in as analysts through contractors');
$node->connect_ok(connstr('engineers', $ws->mint(sub => $erin)), 'erin logs in as engineers directly');

# Waits for $cond after a change made at $t0; the change must take effect
# within one interval plus the time a round takes (a few seconds here).
sub enforced_within_interval {
	my ($t0, $cond, $what) = @_;
	my $ok = $node->poll_query_until('postgres', $cond);
	my $took = time() - $t0;
	ok($ok, "$what: seen") or diag(sqlv("SELECT * FROM dbx_oauth.group_sync_status()"));
	cmp_ok($took, '<=', $interval + 5, sprintf("$what: within one interval (%.1f s)", $took));
}

# --- direct add and removal ----------------------------------------------
my $t0 = time();
$ws->set_group('analysts', $alice, $bob, 'group:contractors');
enforced_within_interval($t0, is_member('analysts', $bob), 'direct add');
$node->connect_ok(connstr('analysts', $ws->mint(sub => $bob)), 'bob, added directly, logs in as analysts');

$t0 = time();
$ws->set_group('analysts', $alice, 'group:contractors');
enforced_within_interval($t0, 'SELECT NOT (' . is_member('analysts', $bob) . ')', 'direct removal');
$node->connect_fails(connstr('analysts', $ws->mint(sub => $bob)), 'bob, removed directly, is refused',
	expected_stderr => $generic, log_like => [qr/reason=not_a_group_member/]);

# --- nested add and removal ----------------------------------------------
$t0 = time();
$ws->set_group('contractors', $erin, $frank);
enforced_within_interval($t0, is_member('analysts', $frank), 'nested add');
$node->connect_ok(connstr('analysts', $ws->mint(sub => $frank)), 'frank, added to the nested group, logs in');

$t0 = time();
$ws->set_group('contractors', $frank);
enforced_within_interval($t0, 'SELECT NOT (' . is_member('analysts', $erin) . ')', 'nested removal');
$node->connect_fails(connstr('analysts', $ws->mint(sub => $erin)), 'erin, removed from the nested group, is refused',
	expected_stderr => $generic, log_like => [qr/reason=not_a_group_member/]);
$node->connect_ok(connstr('engineers', $ws->mint(sub => $erin)), 'erin is still a direct member of engineers');

# --- deactivation: refused for every group at once -------------------------
$ws->set_group('analysts', $alice, $erin, 'group:contractors');
ok($node->poll_query_until('postgres', is_member('analysts', $erin)), 'erin back in analysts');
$t0 = time();
$ws->control('/users', { userName => $erin, active => JSON::PP::false });
enforced_within_interval($t0,
	'SELECT NOT (' . is_member('analysts', $erin) . ') AND NOT (' . is_member('engineers', $erin) . ')',
	'deactivation');
for my $g ('analysts', 'engineers') {
	$node->connect_fails(connstr($g, $ws->mint(sub => $erin)), "deactivated erin is refused as $g",
		expected_stderr => $generic);
}
is(sqlv("SELECT sum(inactive) FROM dbx_oauth.group_sync_status()"), '2', 'inactive member counted in both groups');

# --- reactivation -----------------------------------------------------------
$t0 = time();
$ws->control('/users', { userName => $erin, active => JSON::PP::true });
enforced_within_interval($t0, 'SELECT (' . is_member('analysts', $erin) . ') AND (' . is_member('engineers', $erin) . ')',
	'reactivation');
$node->connect_ok(connstr('engineers', $ws->mint(sub => $erin)), 'reactivated erin logs in again');

# --- deletion ---------------------------------------------------------------
$t0 = time();
$ws->control('/users', { userName => $erin, delete => JSON::PP::true });
enforced_within_interval($t0,
	'SELECT NOT (' . is_member('analysts', $erin) . ') AND NOT (' . is_member('engineers', $erin) . ')',
	'deletion');
$node->connect_fails(connstr('engineers', $ws->mint(sub => $erin)), 'deleted erin is refused',
	expected_stderr => $generic);

# --- sync_groups() sees a change at once (no cache to wait out) -------------
$ws->set_group('contractors', $frank, $bob);
sqlv('SELECT dbx_oauth.sync_groups()');
ok($node->poll_query_until('postgres', is_member('analysts', $bob)), 'sync_groups() picks up a nested add at once');

# --- members the workspace does not return are counted and reported --------
$ws->control('/users', { userName => 'acct@example.com', hidden => JSON::PP::true });
$ws->control('/groups', { name => 'acct-group', members => [$alice], hidden => JSON::PP::true });
$ws->set_group('analysts', $alice, 'acct@example.com', 'group:acct-group', 'group:contractors');
sqlv('SELECT dbx_oauth.sync_groups()');
ok($node->poll_query_until('postgres',
	"SELECT unresolved = 2 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"),
	'an account-level user and group the workspace does not show are counted as unresolved')
  or diag(sqlv("SELECT * FROM dbx_oauth.group_sync_status()"));
like(slurp_file($node->logfile), qr/WARNING:.*2 members of workspace group "analysts" were not found at the workspace/,
	'and reported with a WARNING');

# Bulk resolution: one SCIM request resolves many members.
my $stats = $ws->stats->{paths};
my $single = grep { m{/Users/} } keys %$stats;
is($single, 0, 'users are never fetched one by one (GET /Users/<id>)');

$node->stop;
$ws->stop;
done_testing();
