# The pgbouncer.ini of docs/pooling.md, run as the page shows it: the block
# in the page equals examples/pgbouncer/pgbouncer.ini, and PgBouncer started
# with that file (only the server port, the listen port and the file paths
# changed for the test) carries set_token transactions of two users for the
# password authenticator.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $pgbouncer = '/usr/sbin/pgbouncer';
BAIL_OUT("$pgbouncer is not installed (scripts/install-deps installs it)") unless -x $pgbouncer;

my $src = $DbxOAuthNode::SRCDIR;
my $ini = PostgreSQL::Test::Utils::slurp_file("$src/examples/pgbouncer/pgbouncer.ini");
my $doc = PostgreSQL::Test::Utils::slurp_file("$src/docs/pooling.md");
my ($block) = $doc =~ /```ini\n(\[databases\]\n.*?)```/s;
is($block, $ini, 'docs/pooling.md shows examples/pgbouncer/pgbouncer.ini verbatim');
unlike($ini, qr/^[^;#\n]*\S\s*[;#]/m, 'no comment after a value (PgBouncer would read it as part of the value)');

my $auth_pw = 'auth-secret-pw';
my $t = DbxOAuthNode->create('bouncer_conf',
	conf => "dbx_oauth.authenticator_role = 'authenticator'\nlog_parameter_max_length = 0",
	hba => "host all authenticator 127.0.0.1/32 scram-sha-256\n");
my $node = $t->node;
my ($alice, $bob) = ('alice@example.com', 'bob@example.com');
$node->safe_psql('postgres', qq{
	CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD '$auth_pw';
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	CREATE TABLE docs (id int, owner text);
	INSERT INTO docs VALUES (1, '$alice'), (2, '$alice'), (3, '$bob');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
	GRANT SELECT ON docs TO dbx_oauth_users;
});

my $dir = PostgreSQL::Test::Utils::tempdir;
my $bport = PostgreSQL::Test::Cluster::get_free_port();
my $server_port = $node->port;
my $run_ini = $ini;
ok($run_ini =~ s/port=5432 /port=$server_port /, 'test changes: the server port');
ok($run_ini =~ s/^listen_port = 6432$/listen_port = $bport/m, '... the listen port');
ok($run_ini =~ s{/etc/pgbouncer/userlist\.txt}{$dir/userlist.txt}, '... the auth_file path');
$run_ini .= "unix_socket_dir =\nlogfile = $dir/pgbouncer.log\npidfile = $dir/pgbouncer.pid\n";
PostgreSQL::Test::Utils::append_to_file("$dir/pgbouncer.ini", $run_ini);
PostgreSQL::Test::Utils::append_to_file("$dir/userlist.txt", qq{"authenticator" "$auth_pw"\n});

system($pgbouncer, '-d', "$dir/pgbouncer.ini") == 0 or BAIL_OUT('could not start pgbouncer');
my $pid;
for (1 .. 50) {
	$pid = -s "$dir/pgbouncer.pid" ? PostgreSQL::Test::Utils::slurp_file("$dir/pgbouncer.pid") : undef;
	last if $pid;
	select(undef, undef, undef, 0.1);
}
chomp $pid if $pid;
ok($pid && kill(0, $pid), 'pgbouncer starts with the documented configuration');

my %tok = ($alice => $t->mint(sub => $alice), $bob => $t->mint(sub => $bob));
my $conn = "host=127.0.0.1 port=$bport dbname=appdb user=authenticator password=$auth_pw sslmode=disable";
my $sql = '';
for my $u ($alice, $bob, $alice) {
	$sql .= "BEGIN; SELECT dbx_oauth.set_token('$tok{$u}', true) IS NOT NULL; "
	  . "SELECT current_user || ':' || count(*) FROM docs GROUP BY current_user; COMMIT;\n";
}
$sql .= "SELECT current_user, dbx_oauth.current_identity() IS NULL;\n";
my ($ret, $out, $err) = $node->psql('postgres', $sql, connstr => $conn, on_error_stop => 1);
is($out, "t\n$alice:2\nt\n$bob:1\nt\n$alice:2\nauthenticator|t",
	'through pgbouncer: alice and bob each see their rows; the connection is the authenticator again afterwards')
  or diag($err);

ok(kill('TERM', $pid), 'pgbouncer stopped');
done_testing();
