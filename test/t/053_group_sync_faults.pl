# Identity sync when the workspace does not cooperate: membership older than
# dbx_oauth.group_membership_max_age fails closed (reason
# group_membership_stale) and recovers; HTTP 429 is waited out as Retry-After
# says; a service principal that may not see group members is reported (not
# read as an empty group); sync_groups() retries a failing token endpoint at
# once and the token backoff stays within one sync interval; a GROUP role
# made by create_role() syncs at once.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FakeWorkspace;

my $tmp = PostgreSQL::Test::Utils::tempdir();
my $ws = FakeWorkspace->start(dir => "$tmp/ws");

my $client = 'a0c1e2d3-0000-4000-8000-00000000c11e';
my $viewer = 'b0c1e2d3-0000-4000-8000-00000000c11e';    # not a workspace admin
my $secret = 'sp-SECRET-value-053';
$ws->add_client($client, $secret);
$ws->add_client($viewer, $secret, admin => JSON::PP::false);
sub write_secret {
	my ($path, $content) = @_;
	open my $fh, '>', $path or die;
	print $fh $content;
	close $fh;
	chmod 0600, $path;
}
my $secret_file = "$tmp/sp.secret";
write_secret($secret_file, "$secret\n");

my $alice = 'alice@example.com';
$ws->set_group('analysts', $alice);

my $node = PostgreSQL::Test::Cluster->new('faults');
$node->init;
$node->append_conf('postgresql.conf', $ws->server_conf(
	"dbx_oauth.http_timeout = 3000",
	"dbx_oauth.client_id = '$client'",
	"dbx_oauth.client_secret_file = '$secret_file'",
	"dbx_oauth.group_sync_interval = 10",
	"dbx_oauth.group_membership_max_age = 20",
));
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION dbx_oauth;
	SELECT dbx_oauth.create_role('analysts', 'GROUP');
});

sub sqlv { return $node->safe_psql('postgres', $_[0]); }
sub connstr { my ($user, $tok) = @_; return "user='$user' dbname=postgres password='$tok'"; }
sub diag_status { diag(sqlv("SELECT * FROM dbx_oauth.group_sync_status()") . "\n" . sqlv("SELECT * FROM dbx_oauth.identity_sync_status()")); }
sub doctor_row { return sqlv("SELECT status || ': ' || detail FROM dbx_oauth.doctor() WHERE \"check\" = '$_[0]'"); }
my $generic = qr/password authentication failed for user/;

ok($node->poll_query_until('postgres',
	"SELECT synced AND members = 1 AND NOT stale AND members_visible FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"),
	'group synced') or diag_status();
is(sqlv("SELECT membership_max_age, stale_groups FROM dbx_oauth.identity_sync_status()"), '20|0',
	'identity_sync_status shows the max age and no stale group');
like(doctor_row('group_membership_max_age'), qr/^ok: /, 'doctor: membership fresh');

# --- staleness: the workspace fails, membership ages past the bound ------
$ws->fault(path => 'scim', mode => 'status', status => 500);
$node->connect_ok(connstr('analysts', $ws->mint(sub => $alice)), 'while fresh, the kept membership still counts');
ok($node->poll_query_until('postgres',
	"SELECT stale FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"),
	'after group_membership_max_age without a successful sync the group is stale') or diag_status();
is(sqlv("SELECT stale_groups FROM dbx_oauth.identity_sync_status()"), '1', 'identity_sync_status counts it');
like(doctor_row('group_membership_max_age'), qr/^error: 1 groups were last synced more than 20 s ago.*analysts/,
	'doctor reports the stale group');
$node->connect_fails(connstr('analysts', $ws->mint(sub => $alice)), 'a stale group refuses logins (fail closed)',
	expected_stderr => $generic, log_like => [qr/reason=group_membership_stale/]);
$ws->clear_faults;
sqlv('SELECT dbx_oauth.sync_groups()');
ok($node->poll_query_until('postgres',
	"SELECT NOT stale AND consecutive_failures = 0 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"),
	'a successful sync ends the staleness') or diag_status();
$node->connect_ok(connstr('analysts', $ws->mint(sub => $alice)), 'logins work again');

# --- 429: Retry-After waited out, the group does not fail -----------------
$ws->reset_stats;
$ws->fault(path => 'scim', mode => 'status', status => 429, retry_after => 1, times => 2);
my $t0 = time();
sqlv('SELECT dbx_oauth.sync_groups()');
ok($node->poll_query_until('postgres',
	"SELECT round_throttled = 2 FROM dbx_oauth.identity_sync_status()"),
	'two 429 answers waited out in one round') or diag_status();
is(sqlv("SELECT consecutive_failures FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"), '0',
	'the group did not fail');
cmp_ok(time() - $t0, '>=', 2, 'the worker waited Retry-After (1 s) twice');
$ws->fault(path => 'scim', mode => 'status', status => 429, retry_after => 3600, times => 1);
sqlv('SELECT dbx_oauth.sync_groups()');
ok($node->poll_query_until('postgres',
	"SELECT consecutive_failures >= 1 AND last_error LIKE '%HTTP 429%rate limited%' FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"),
	'a Retry-After beyond the limit fails the group this round') or diag_status();
like(slurp_file($node->logfile), qr/WARNING:.*could not sync group "analysts", keeping its previous membership/,
	'with a WARNING');
$ws->clear_faults;
sqlv('SELECT dbx_oauth.sync_groups()');
ok($node->poll_query_until('postgres',
	"SELECT consecutive_failures = 0 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"), 'recovered');

# --- a service principal that may not see members --------------------------
$node->append_conf('postgresql.conf', "dbx_oauth.client_id = '$viewer'\n");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT NOT members_visible AND consecutive_failures >= 1 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"),
	'a non-admin service principal: members reported as not visible, not as an empty group') or diag_status();
is(sqlv("SELECT members FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"), '1',
	'the previous membership is kept');
like(slurp_file($node->logfile), qr/WARNING:.*could not sync group "analysts".*\n.*DETAIL:.*workspace admin role, or the group manager role/,
	'the WARNING names the missing role');
like(doctor_row('group_members_visible'), qr/^error: .*"\Q$viewer\E" no members of 1 groups.*analysts/,
	'doctor reports it');
$node->append_conf('postgresql.conf', "dbx_oauth.client_id = '$client'\n");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT members_visible AND consecutive_failures = 0 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"),
	'an admin service principal sees the members again') or diag_status();

# --- token: backoff within one interval, sync_groups() retries at once -----
write_secret($secret_file, "wrong-secret\n");
$node->append_conf('postgresql.conf', "dbx_oauth.group_membership_max_age = 0\n");
$node->reload;    # a reload of the secret file setting keeps the token; force a new one:
$ws->fault(path => 'scim', mode => 'status', status => 401, times => 1);
sqlv('SELECT dbx_oauth.sync_groups()');
ok($node->poll_query_until('postgres',
	"SELECT NOT has_token AND token_failures >= 3 FROM dbx_oauth.identity_sync_status()"),
	'the token endpoint refuses a wrong secret, attempts repeat') or diag_status();
is(sqlv("SELECT next_token_refresh <= now() + interval '11 seconds' FROM dbx_oauth.identity_sync_status()"), 't',
	'the next attempt is at most one sync interval away');
write_secret($secret_file, "$secret\n");
$t0 = time();
sqlv('SELECT dbx_oauth.sync_groups()');
ok($node->poll_query_until('postgres', "SELECT has_token FROM dbx_oauth.identity_sync_status()"), 'token obtained');
cmp_ok(time() - $t0, '<', 3, 'sync_groups() retried the token endpoint at once');

# --- create_role(..., 'GROUP') wakes the worker -----------------------------
$node->append_conf('postgresql.conf', "dbx_oauth.group_sync_interval = 3600\n");
$node->reload;
$ws->set_group('newcomers', $alice);
sqlv('SELECT pg_sleep(1)');
$t0 = time();
sqlv("SELECT dbx_oauth.create_role('newcomers', 'GROUP')");
ok($node->poll_query_until('postgres',
	"SELECT synced AND members = 1 FROM dbx_oauth.group_sync_status() WHERE group_name = 'newcomers'"),
	'a new GROUP role is synced') or diag_status();
cmp_ok(time() - $t0, '<', 10, 'at once, not at the next (hourly) round');

$node->stop;
$ws->stop;
done_testing();
