# One shared PgBouncer pool (transaction pooling, 2 server connections) for
# every user: each transaction starts with dbx_oauth.set_token($1, true).
# Many concurrent clients alternate three users' tokens (and transactions
# with no token) over the same two server connections; every transaction
# records what it saw, and afterwards no transaction may have seen another
# user's rows or identity.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use DbxOAuthNode;
use PooledSeen;
use TestBouncer;

my $pgbouncer = '/usr/sbin/pgbouncer';
# Not a skip: scripts/install-deps installs pgbouncer, so its absence is a failure.
BAIL_OUT("$pgbouncer is not installed (scripts/install-deps installs it)") unless -x $pgbouncer;

my $auth_pw = 'auth-secret-pw';
my @users = ('alice@example.com', 'bob@example.com', 'carol@example.com');
my %rows = ($users[0] => 2, $users[1] => 3, $users[2] => 5);

my $t = DbxOAuthNode->create('bouncer',
	conf => "dbx_oauth.authenticator_role = 'authenticator'",
	hba => "host all authenticator 127.0.0.1/32 scram-sha-256\nlocal all authenticator scram-sha-256\n");
my $node = $t->node;

$node->safe_psql('postgres', qq{
	CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD '$auth_pw';
	-- bind parameters (the tokens) must not reach the log via log_statement
	ALTER ROLE authenticator SET log_parameter_max_length = 0;
	@{[ map { "SELECT dbx_oauth.create_role('$_', 'USER');" } @users ]}
	CREATE TABLE docs (id serial, owner text, body text);
	@{[ map { my $u = $_; map { "INSERT INTO docs (owner, body) VALUES ('$u', 'doc $_ of $u');" } 1 .. $rows{$u} } @users ]}
	INSERT INTO docs (owner, body) VALUES ('nobody', 'nobody may see this');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
	GRANT SELECT ON docs TO dbx_oauth_users, authenticator;
	-- what each pooled transaction saw
	CREATE TABLE seen (expected text, usr text, identity text, n int, all_mine bool, pid int);
	GRANT INSERT ON seen TO dbx_oauth_users, authenticator;
});

# --- PgBouncer ---------------------------------------------------------------
my $bouncer = TestBouncer::start($node, $pgbouncer, $auth_pw,
	databases => "appdb1 = host=127.0.0.1 port=@{[ $node->port ]} dbname=postgres user=authenticator pool_size=1\n",
	settings => "min_pool_size = 0\nreserve_pool_size = 0\nserver_reset_query = DISCARD ALL\n");
my ($dir, $bport, $bouncer_pid) = @$bouncer{qw(dir port pid)};
my $fh;

my $via_bouncer = "host=127.0.0.1 port=$bport user=authenticator password=$auth_pw sslmode=disable";
sub bouncer_psql {
	my ($db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, connstr => "$via_bouncer dbname=$db", on_error_stop => 1);
	return ($ret, $out, $err);
}
my ($ret, $out, $err);
for (1 .. 50) {
	($ret, $out, $err) = bouncer_psql('appdb', 'SELECT current_user');
	last if $ret == 0;
	select(undef, undef, undef, 0.1);
}
is($out, 'authenticator', 'a client reaches the server through pgbouncer as the authenticator') or diag($err);

# --- many interleaved clients ----------------------------------------------------
my %tok = map { $_ => $t->mint(sub => $_) } @users;
my $script = <<'SQL';
\set u random(0, 3)
\if :u = 0
BEGIN;
INSERT INTO seen SELECT '-', current_user, dbx_oauth.current_identity(), count(*), NULL, pg_backend_pid() FROM docs;
COMMIT;
SQL
for my $i (1 .. 3) {
	$script .= <<"SQL";
\\elif :u = $i
BEGIN;
SELECT dbx_oauth.set_token(:tok$i, true);
INSERT INTO seen SELECT CAST(:me$i AS text), current_user, dbx_oauth.current_identity(), count(*), bool_and(owner = CAST(:me$i AS text)), pg_backend_pid() FROM docs;
COMMIT;
SQL
}
$script .= "\\endif\n";
open $fh, '>', "$dir/tx.sql" or die $!;
print $fh $script;
close $fh;
note($script);

my ($clients, $per_client) = (8, 250);
my @define;
for my $i (1 .. 3) {
	push @define, '-D', "tok$i=$tok{$users[$i-1]}", '-D', "me$i=$users[$i-1]";
}
my $start = time;
my ($pb_out, $pb_err) = ('', '');
my $timer = IPC::Run::timeout(120);
{
	local $ENV{PGPASSWORD} = $auth_pw;
	local $ENV{PGSSLMODE} = 'disable';
	IPC::Run::run([ $node->installed_command('pgbench'), '-n', '-M', 'extended',
		'-c', $clients, '-j', 2, '-t', $per_client, '-f', "$dir/tx.sql", @define,
		'-h', '127.0.0.1', '-p', $bport, '-U', 'authenticator', 'appdb' ],
		'>', \$pb_out, '2>', \$pb_err, $timer);
}
my $pb_ok = $? == 0;
my $elapsed = time - $start;
my $total = $clients * $per_client;
ok($pb_ok, "pgbench: $clients clients x $per_client transactions through pgbouncer finished without errors")
  or diag("stdout:\n$pb_out\nstderr:\n$pb_err");
like($pb_out, qr{number of transactions actually processed: $total/$total}, "all $total transactions ran");
note(sprintf('%d transactions in %.1f s', $total, $elapsed));

# --- what each transaction saw ---------------------------------------------------
is($node->safe_psql('postgres', 'SELECT count(*) FROM seen'), $total, 'every transaction recorded what it saw');

PooledSeen::each_user_saw_only_own_rows($node, \@users, \%rows, 'transaction');
is($node->safe_psql('postgres', q{SELECT count(*) FROM seen WHERE expected NOT IN ('-', 'alice@example.com', 'bob@example.com', 'carol@example.com')}),
	'0', 'no transaction recorded an unexpected user');

# The pool really was shared: at most two server connections carried all users.
my $pids = $node->safe_psql('postgres', q{
	SELECT count(DISTINCT pid), min(users) FROM (SELECT pid, count(DISTINCT expected) AS users FROM seen GROUP BY pid) p});
my ($npids, $min_users) = split /\|/, $pids;
ok($npids >= 1 && $npids <= 2, "all transactions ran on $npids server connection(s) (default_pool_size = 2)");
is($min_users, 4, 'each server connection served all three users and token-less transactions, interleaved');

# No switch survives on the pooled server connections.
is($node->safe_psql('postgres', q{SELECT count(*) FROM dbx_oauth.sessions}), '0',
	'no server connection is left with a switched identity');

# --- why is_local is required ------------------------------------------------------
# appdb1 has a single server connection, so consecutive clients share it.
# (Literal tokens here: log_statement = all logs them, so they are not part
# of the log check below.)
my %demo = map { $_ => $t->mint(sub => $_) } @users;
($ret, $out, $err) = bouncer_psql('appdb1', qq{
	BEGIN; SELECT dbx_oauth.set_token('$demo{$users[0]}', true) IS NOT NULL; COMMIT;});
($ret, $out, $err) = bouncer_psql('appdb1', q{
	SELECT current_user, dbx_oauth.current_identity() IS NULL, count(*) FROM docs});
is($out, 'authenticator|t|0', 'after a client used is_local, the next client on the same server connection sees nothing');

($ret, $out, $err) = bouncer_psql('appdb1', qq{SELECT dbx_oauth.set_token('$demo{$users[1]}') IS NOT NULL});
($ret, $out, $err) = bouncer_psql('appdb1', q{
	SELECT current_user, dbx_oauth.current_identity(), count(*) FROM docs});
is($out, "$users[1]|$users[1]|$rows{$users[1]}",
	'a session-level set_token under transaction pooling leaks to the next client (this is why is_local is required)');
($ret, $out, $err) = bouncer_psql('appdb1', q{SELECT dbx_oauth.reset_token(); SELECT current_user});
is($out, "\nauthenticator", 'reset_token() cleans the server connection up');

# --- tokens never reach a log ----------------------------------------------------------
my $log = $t->server_log . PostgreSQL::Test::Utils::slurp_file("$dir/pgbouncer.log");
like($log, qr/set_token\(\$1, true\)/, 'the server logged the pooled statements (log_statement = all)');
my @leaked = grep { index($log, $tok{$_}) >= 0 } @users;
is_deeply(\@leaked, [], 'no bind-parameter token appears in the server or pgbouncer log');

# --- stop pgbouncer by its pid ---------------------------------------------------------
ok(kill('TERM', $bouncer_pid), 'pgbouncer stopped');
for (1 .. 50) { last unless kill(0, $bouncer_pid); select(undef, undef, undef, 0.1); }
ok(!kill(0, $bouncer_pid), 'pgbouncer exited');
$bouncer_pid = undef;

done_testing();
