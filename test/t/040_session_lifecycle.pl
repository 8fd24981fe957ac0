# Session lifecycle: the session monitor ends OAuth sessions whose token
# expired (when asked to), that idled or aged too long, or that hold slots
# while the server is under connection pressure — and never touches active
# sessions or sessions that did not log in with a token.
use strict;
use warnings;
use IPC::Run qw(start pump finish timeout);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $t = DbxOAuthNode->create('lifecycle', conf => q{
max_connections = 20
superuser_reserved_connections = 3
dbx_oauth.expired_session_action = terminate
dbx_oauth.expired_session_grace = 0
dbx_oauth.idle_session_timeout = 0
dbx_oauth.max_session_age = 0
dbx_oauth.evict_idle_above = 0
});
my $node = $t->node;
my @users = map { "user$_\@example.com" } 1 .. 8;
$node->safe_psql('postgres', join("\n",
	(map { "SELECT dbx_oauth.create_role('$_', 'USER');" } @users),
	'CREATE ROLE plain_trust LOGIN;'));

# An interactive psql session kept open (idle) until we feed it more SQL.
sub open_session {
	my ($connstr) = @_;
	my %s = (in => '', out => '', err => '');
	$s{h} = start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr('postgres') . " $connstr", '-f', '-' ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err}, timeout(60));
	$s{in} .= "SELECT pg_backend_pid();\n";
	pump $s{h} until $s{out} =~ /^(\d+)$/m || !$s{h}->pumpable;
	($s{pid}) = $s{out} =~ /^(\d+)$/m;
	diag("session did not start: $s{err}") unless $s{pid};
	$s{out} = '';
	return \%s;
}

# Sends one more statement; returns what the client printed on stderr.
sub poke {
	my ($s) = @_;
	$s->{in} .= "SELECT 1;\n\\q\n";
	eval { finish $s->{h} };
	return $s->{err};
}

sub backend_alive {
	my ($pid) = @_;
	return $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '1';
}

sub reload_with {
	my ($settings) = @_;
	$node->safe_psql('postgres', join('', map { "ALTER SYSTEM SET $_;" } @$settings) . 'SELECT pg_reload_conf();');
}

sub wait_gone {
	my ($pid) = @_;
	return $node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid");
}

# --- expired token, expired_session_action = terminate ---------------------
my $short = $t->mint(sub => $users[0], lifetime => 4);
my $s = open_session($t->connstr($users[0], $short));
ok($s->{pid}, 'a session with a 4-second token is open');
ok(wait_gone($s->{pid}), 'it is terminated once the token has expired');
like(poke($s), qr/terminating connection because its OAuth token has expired/,
	'the client is told why');
like(slurp_file($node->logfile), qr/terminating session pid=$s->{pid} identity="\Q$users[0]\E" reason=token_expired/,
	'the server log names pid, identity and reason');

# --- set_token switch whose token expires: identity dropped, connection kept
my ($rc, $out, $err) = $node->psql('postgres', qq{
	SELECT dbx_oauth.set_token('${\ $t->mint(sub => $users[4], lifetime => 3)}');
	SELECT pg_sleep(4);
	SELECT dbx_oauth.current_identity();
	SELECT coalesce(dbx_oauth.current_identity(), 'no identity');
	SELECT dbx_oauth.reset_token();
	SELECT current_user = session_user, dbx_oauth.current_identity() IS NULL;
}, on_error_stop => 0);
like($err, qr/the OAuth token set with set_token for role "\Q$users[4]\E" has expired/,
	'a statement under an expired set_token identity fails with a clear error');
like($out, qr/^no identity$/m, 'the identity is gone for good after the error');
like($out, qr/^t\|t$/m, 'reset_token() recovers the connection, which was never closed');

# --- expired token, action none: the session outlives its token (Lakebase) -
reload_with(["dbx_oauth.expired_session_action = 'none'"]);
$s = open_session($t->connstr($users[1], $t->mint(sub => $users[1], lifetime => 2)));
sleep 4;
ok(backend_alive($s->{pid}), 'with action none the session survives token expiry');
is(poke($s), '', 'and keeps working');

# --- idle timeout: OAuth sessions only --------------------------------------
reload_with(["dbx_oauth.idle_session_timeout = '3s'"]);
my $oauth = open_session($t->connstr($users[2], $t->mint(sub => $users[2])));
my $plain = open_session($t->connstr('plain_trust', undef));
ok(wait_gone($oauth->{pid}), 'an idle OAuth session is closed after idle_session_timeout');
like(poke($oauth), qr/idle for longer than dbx_oauth.idle_session_timeout/, 'the client is told it idled');
ok(backend_alive($plain->{pid}), 'an idle non-OAuth session is never touched');
is(poke($plain), '', 'the non-OAuth session still works');
reload_with(["dbx_oauth.idle_session_timeout = 0"]);

# --- max session age: even a busy session ends --------------------------------
reload_with(["dbx_oauth.max_session_age = '3s'"]);
$s = open_session($t->connstr($users[3], $t->mint(sub => $users[3])));
ok(wait_gone($s->{pid}), 'a session older than max_session_age is closed');
like(poke($s), qr/older than dbx_oauth.max_session_age/, 'the client is told the session is too old');
reload_with(["dbx_oauth.max_session_age = 0"]);

# --- pressure: above evict_idle_above percent, idle OAuth sessions go, oldest first
# max_connections 20 -> threshold 50% = 10 client backends.
my @idle = map { open_session($t->connstr($users[$_], $t->mint(sub => $users[$_]))) } 4 .. 7;
my @plain = map { open_session($t->connstr('plain_trust', undef)) } 1 .. 5;
my $busy_in = '';
my $busy_out = '';
my $busy = start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') . ' ' . $t->connstr($users[0], $t->mint(sub => $users[0])), '-c', 'SELECT pg_sleep(8)' ],
	'<', \$busy_in, '>', \$busy_out, '2>&1', timeout(60));
$node->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(8)%'");
# 4 idle OAuth + 5 plain + 1 busy OAuth = 10; one more makes 11 > 10.
reload_with(['dbx_oauth.evict_idle_above = 50']);
my $extra = open_session($t->connstr('plain_trust', undef));
ok(wait_gone($idle[0]{pid}), 'under pressure the longest-idle OAuth session is evicted');
like(poke($idle[0]), qr/server is under connection pressure/, 'the client is told why');
ok(backend_alive($idle[3]{pid}), 'the most recently active idle session is kept');
$node->connect_ok($t->connstr($users[7], $t->mint(sub => $users[7])), 'a new token login succeeds in the freed slot',
	sql => 'SELECT current_user', expected_stdout => qr/^\Q$users[7]\E$/);
ok((grep { backend_alive($_->{pid}) } @plain) == 5, 'non-OAuth sessions are never evicted');
ok(eval { finish $busy }, 'the active OAuth session finished its query');
unlike($busy_out, qr/FATAL|terminating/, 'the active session was never terminated');
reload_with(['dbx_oauth.evict_idle_above = 0']);

# --- on demand ---------------------------------------------------------------
sleep 1;
my $n = $node->safe_psql('postgres', "SELECT dbx_oauth.evict_idle_sessions('500 ms')");
cmp_ok($n, '>=', 1, 'evict_idle_sessions() ends the remaining idle OAuth sessions');
ok(wait_gone($idle[3]{pid}), 'the newest idle OAuth session is among them');
like(poke($idle[3]), qr/administrator's request/, 'the client is told an administrator asked');
is($node->safe_psql('postgres', "SELECT dbx_oauth.evict_idle_sessions('1 hour')"), '0',
	'nothing idles that long');

# --- counters ----------------------------------------------------------------
my %stats = map { split /\|/ } split /\n/, $node->safe_psql('postgres', 'SELECT counter, value FROM dbx_oauth.stats()');
is($stats{evictions_token_expired}, 1, 'stats count expiry evictions');
is($stats{evictions_idle_timeout}, 1, 'stats count idle evictions');
is($stats{evictions_session_age}, 1, 'stats count age evictions');
cmp_ok($stats{evictions_connection_pressure}, '>=', 1, 'stats count pressure evictions');
is($stats{evictions_on_demand}, $n, 'stats count on-demand evictions');

poke($_) for @plain, $extra, @idle[1, 2];
done_testing();
