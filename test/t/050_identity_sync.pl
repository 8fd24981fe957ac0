# Identity sync against the fake workspace: the service principal's token
# (client credentials) is obtained, refreshed two minutes before expiry and
# retried with backoff; a world-readable secret file is refused; group
# membership is read over SCIM (paging, nested groups, exact names),
# published for logins and reconciled into GRANTs; a member removed at the
# workspace can no longer log in as the group after the next sync; a failed
# sync keeps the previous membership; admin grants are never revoked; the
# token and the secret never reach the server log or the status views.
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

my $client = 'a0c1e2d3-0000-4000-8000-00000000c11e';
my $secret = 'sp-SECRET-value-9f8e7d6c';
$ws->add_client($client, $secret, token_lifetime => 130);

sub write_secret {
	my ($path, $content, $mode) = @_;
	open my $fh, '>', $path or die "$path: $!";
	print $fh $content;
	close $fh;
	chmod $mode, $path or die "chmod $path: $!";
}
my $secret_file = "$tmp/sp.secret";
write_secret($secret_file, "$secret\n", 0600);

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';
my $carol = 'carol@example.com';    # member at the workspace, no role of her own
my $dave = 'dave@example.com';      # granted the group by an admin, not a workspace member
my $erin = 'erin@example.com';      # member through a nested group
$ws->set_group('contractors', $erin);
$ws->set_group('analysts', $alice, $bob, $carol, 'group:contractors');

my $node = PostgreSQL::Test::Cluster->new('idsync');
$node->init;
$node->append_conf('postgresql.conf', $ws->server_conf(
	"dbx_oauth.http_timeout = 3000",
	"dbx_oauth.client_id = '$client'",
	"dbx_oauth.client_secret_file = '$secret_file'",
	"dbx_oauth.group_sync_interval = 10",
));
$node->start;
$node->safe_psql('postgres', qq{
	CREATE EXTENSION dbx_oauth;
	SELECT dbx_oauth.create_role('analysts', 'GROUP');
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	SELECT dbx_oauth.create_role('$dave', 'USER');
	SELECT dbx_oauth.create_role('$erin', 'USER');
	GRANT analysts TO "$dave";
	CREATE ROLE monitor LOGIN IN ROLE pg_monitor;
	CREATE ROLE nobody LOGIN;
});

sub sqlv { return $node->safe_psql('postgres', $_[0]); }
sub status { return sqlv("SELECT $_[0] FROM dbx_oauth.identity_sync_status()"); }
sub group_status { return sqlv("SELECT $_[0] FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'"); }
sub members {
	return sqlv("SELECT string_agg(member_identity, ',' ORDER BY member_identity) FROM dbx_oauth.group_members WHERE group_name = 'analysts'");
}
sub granted {
	return sqlv("SELECT string_agg(m.rolname, ',' ORDER BY m.rolname) FROM pg_auth_members am
	          JOIN pg_roles g ON g.oid = am.roleid JOIN pg_roles m ON m.oid = am.member
	          WHERE g.rolname = 'analysts'");
}
sub tracked {
	return sqlv("SELECT string_agg(m.rolname, ',' ORDER BY m.rolname) FROM dbx_oauth.group_sync_grants t
	          JOIN pg_roles m ON m.oid = t.member_role");
}
sub sync_and_wait {
	my ($cond, $what) = @_;
	sqlv("SELECT dbx_oauth.sync_groups()");
	ok($node->poll_query_until('postgres', $cond), $what)
	  or diag(sqlv("SELECT * FROM dbx_oauth.group_sync_status()") . "\n" . sqlv("SELECT * FROM dbx_oauth.identity_sync_status()"));
}
sub connstr { my ($user, $tok) = @_; return "user='$user' dbname=postgres password='$tok'"; }
my $generic = qr/password authentication failed for user/;

# --- token ------------------------------------------------------------------
ok($node->poll_query_until('postgres',
	"SELECT has_token AND token_failures = 0 FROM dbx_oauth.identity_sync_status()"),
	'the worker obtained a service-principal token')
  or diag(sqlv("SELECT * FROM dbx_oauth.identity_sync_status()"));
# The worker may have looked before CREATE EXTENSION ("publish_only"); it
# sees the extension at its next wake-up.
ok($node->poll_query_until('postgres',
	"SELECT enabled, mode, client_id, database, extension_installed, token_last_error IS NULL, worker_pid IS NOT NULL
	 FROM dbx_oauth.identity_sync_status()", "t|primary|$client|postgres|t|t|t"),
	'status: enabled primary, client and database shown')
  or diag(sqlv("SELECT * FROM dbx_oauth.identity_sync_status()"));
is(status("token_expires_at - token_obtained_at = interval '130 seconds'"), 't',
	'expiry follows expires_in');

# Refreshed 2 minutes before expiry: 10 s after it was obtained (130 s lifetime).
my ($obtained, $expires) = split /\|/, status("token_obtained_at, token_expires_at");
is(status("next_token_refresh = token_expires_at - interval '2 minutes'"), 't',
	'next refresh scheduled two minutes before expiry');
ok($node->poll_query_until('postgres',
	"SELECT token_obtained_at > '$obtained' FROM dbx_oauth.identity_sync_status()"),
	'token refreshed');
is(status("token_obtained_at < '$expires'::timestamptz - interval '100 seconds' AND has_token"), 't',
	'refresh happened about two minutes before the old token expired');

# Failures: two 503s, then success, with growing delays; the old token stays in use.
($obtained) = status("token_obtained_at");
$ws->reset_stats;
$ws->fault(path => 'token', mode => 'status', status => 503, times => 2);
ok($node->poll_query_until('postgres',
	"SELECT token_failures >= 1 AND token_last_error LIKE '%HTTP 503%' AND has_token FROM dbx_oauth.identity_sync_status()"),
	'a failed refresh is reported while the old token stays usable');
ok($node->poll_query_until('postgres',
	"SELECT token_failures = 0 AND token_last_error IS NULL AND token_obtained_at > '$obtained' FROM dbx_oauth.identity_sync_status()"),
	'refresh retried until it succeeded');
cmp_ok($ws->stats->{token}, '>=', 3, 'two failed attempts and one success reached the token endpoint');
like(slurp_file($node->logfile), qr/could not obtain an access token for client "\Q$client\E".*\n.*HTTP 503 \(attempt 1\)/,
	'the failure is logged with the attempt number');

# --- group sync ----------------------------------------------------------------
sync_and_wait("SELECT synced AND found AND members = 4 AND consecutive_failures = 0 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'",
	'group synced');
is(members(), "$alice,$bob,$carol,$erin", 'members published, nested group expanded');

$node->connect_ok(connstr('analysts', $ws->mint(sub => $alice)), 'a member logs in as the group',
	sql => 'SELECT current_user, dbx_oauth.current_identity()', expected_stdout => qr/^analysts\|\Q$alice\E$/);
$node->connect_ok(connstr('analysts', $ws->mint(sub => 'Carol@Example.COM')),
	'a member without a role of her own logs in as the group (case-insensitive)');
$node->connect_ok(connstr('analysts', $ws->mint(sub => $erin)), 'a nested-group member logs in as the group');
$node->connect_fails(connstr('analysts', $ws->mint(sub => $dave)),
	'a role granted the group by an admin but not a workspace member is refused',
	expected_stderr => $generic, log_like => [qr/reason=not_a_group_member/]);

ok($node->poll_query_until('postgres',
	"SELECT grants_made >= 3 AND reconcile_error IS NULL FROM dbx_oauth.identity_sync_status()"),
	'grants reconciled');
is(granted(), "$alice,$bob,$dave,$erin", 'GRANT analysts to member roles (dave keeps the admin grant)');
is(tracked(), "$alice,$bob,$erin", 'only the worker\'s own grants are tracked');

# --- removal at the workspace: refused after the next (scheduled) sync -------
$node->connect_ok(connstr('analysts', $ws->mint(sub => $bob)), 'bob logs in as the group while a member');
$ws->set_group('analysts', $alice, $carol, 'group:contractors');
ok($node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT 1 FROM dbx_oauth.group_members WHERE member_identity = '$bob')"),
	'the scheduled sync drops bob (no sync_groups() call)');
$node->connect_fails(connstr('analysts', $ws->mint(sub => $bob)), 'removed member is refused as the group',
	expected_stderr => $generic, log_like => [qr/reason=not_a_group_member/]);
ok($node->poll_query_until('postgres', "SELECT revokes_made >= 1 FROM dbx_oauth.identity_sync_status()"),
	'revoke reconciled');
is(granted(), "$alice,$dave,$erin", 'GRANT revoked from the removed member, admin grant kept');
is(tracked(), "$alice,$erin", 'tracking row removed');
# bob's own role still has the catalog grant?  No: and even re-granting by hand does not help.
sqlv(qq{GRANT analysts TO "$bob"});
$node->connect_fails(connstr('analysts', $ws->mint(sub => $bob)),
	'a catalog grant does not override synced membership', expected_stderr => $generic);
sqlv(qq{REVOKE analysts FROM "$bob"});

# --- a failed sync keeps the previous membership ------------------------------
$ws->fault(path => 'scim', mode => 'status', status => 500);
sync_and_wait("SELECT consecutive_failures >= 1 AND last_error LIKE '%HTTP 500%' FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'",
	'failed sync reported in group_sync_status');
is(group_status('synced AND members = 3'), 't', 'previous membership kept');
$node->connect_ok(connstr('analysts', $ws->mint(sub => $alice)), 'members still log in while the workspace fails');
$ws->clear_faults;
sync_and_wait("SELECT consecutive_failures = 0 AND last_error IS NULL FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'",
	'sync recovers');

# --- paging and exact names: "Analysts" also matches the (case-insensitive) filter
$ws->set_group('Analysts', $bob);
$ws->delete_group('analysts');
$ws->set_group('analysts', $alice, 'group:contractors');    # now listed after "Analysts"
$ws->scim_page_size(1);
$ws->reset_stats;
sync_and_wait("SELECT members = 2 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'",
	'group found on the second page');
is(members(), "$alice,$erin", 'members of the exactly named group only');
my $paths = $ws->stats->{paths};
my $group_lists = 0;
$group_lists += $paths->{$_} for grep { m{/Groups$} } keys %$paths;
cmp_ok($group_lists, '>=', 2, 'the group search was paged');
$ws->scim_page_size(50);

# --- group deleted at the workspace: nobody may log in as it -----------------
$ws->delete_group('analysts');
sync_and_wait("SELECT NOT found AND members = 0 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'",
	'deleted workspace group publishes an empty membership');
$node->connect_fails(connstr('analysts', $ws->mint(sub => $alice)), 'no login as a group deleted at the workspace',
	expected_stderr => $generic);
$ws->set_group('analysts', $alice);
sync_and_wait("SELECT found AND members = 1 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'",
	'group back');

# --- secret file rules ------------------------------------------------------------
my $open_file = "$tmp/open.secret";
write_secret($open_file, "$secret\n", 0644);
$node->append_conf('postgresql.conf', "dbx_oauth.client_secret_file = '$open_file'\n");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT NOT has_token AND token_last_error LIKE '%readable by other users%' FROM dbx_oauth.identity_sync_status()"),
	'a world-readable secret file is refused');
sync_and_wait("SELECT last_error LIKE '%no usable access token%' AND members = 1 FROM dbx_oauth.group_sync_status() WHERE group_name = 'analysts'",
	'without a token the sync fails and keeps the membership');
chmod 0600, $open_file;
ok($node->poll_query_until('postgres',
	"SELECT has_token AND token_failures = 0 FROM dbx_oauth.identity_sync_status()"),
	'after chmod 600 the token is obtained again');

# Wrong secret: the token endpoint refuses, the secret is not echoed.
write_secret($open_file, "wrong-SECRET-guess\n", 0600);
$node->append_conf('postgresql.conf', "dbx_oauth.client_secret_file = '$secret_file'\n");
$node->reload;    # back to the right file first (a reload resets the token)
ok($node->poll_query_until('postgres', "SELECT has_token FROM dbx_oauth.identity_sync_status()"), 'token with the right file');
$node->append_conf('postgresql.conf', "dbx_oauth.client_secret_file = '$open_file'\n");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT NOT has_token AND token_last_error = 'token endpoint answered HTTP 401 (invalid_client)' FROM dbx_oauth.identity_sync_status()"),
	'a wrong secret is reported as invalid_client');

# --- privileges ----------------------------------------------------------------
for my $obj ('dbx_oauth.identity_sync_status()', 'dbx_oauth.group_sync_status()', 'dbx_oauth.group_members',
	'dbx_oauth.group_sync_grants')
{
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT * FROM $obj", extra_params => ['-U', 'nobody']);
	like($err, qr/permission denied/, "a plain role cannot read $obj");
	($ret, $out, $err) = $node->psql('postgres', "SELECT count(*) FROM $obj", extra_params => ['-U', 'monitor']);
	is($ret, 0, "pg_monitor reads $obj");
}
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT dbx_oauth.sync_groups()', extra_params => ['-U', 'monitor']);
like($err, qr/permission denied/, 'sync_groups() is not for pg_monitor');

# --- disabling: the store is cleared, the catalog decides again --------------
$node->append_conf('postgresql.conf', "dbx_oauth.client_id = ''\n");
$node->reload;
ok($node->poll_query_until('postgres',
	"SELECT mode = 'disabled' AND NOT enabled AND NOT has_token FROM dbx_oauth.identity_sync_status()"),
	'emptying client_id disables the sync');
is(sqlv("SELECT count(*) FROM dbx_oauth.group_sync_status()"), '0', 'published groups dropped');
$node->connect_ok(connstr('analysts', $ws->mint(sub => $dave)), 'catalog grant counts again once sync is off');

# --- nothing secret anywhere -----------------------------------------------------
# (The test harness itself logs the connection strings of connect_ok, with
# the end users' tokens: those lines are not the server's doing.)
my $log = join '', grep { !/statement: SELECT \$\$connected with/ } split /^/, slurp_file($node->logfile);
unlike($log, qr/\Q$secret\E/, 'the client secret is not in the server log');
unlike($log, qr/wrong-SECRET-guess/, 'a wrong secret is not in the server log');
unlike($log, qr/eyJ[A-Za-z0-9_-]{20,}/, 'no JWT in the server log');
my $all_status = sqlv("SELECT s::text FROM dbx_oauth.identity_sync_status() s") . sqlv("SELECT string_agg(s::text, ' ') FROM dbx_oauth.group_sync_status() s");
unlike($all_status, qr/\Q$secret\E|eyJ/, 'no secret or token in the status functions');

$node->stop;
$ws->stop;
done_testing();
