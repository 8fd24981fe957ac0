# A real PgBouncer in transaction mode in front of a test node, for the
# password authenticator 'authenticator' (SCRAM), on loopback and a free
# port; stopped by its pid when the test exits.  Used by the pooled tests
# (031, 037).
package TestBouncer;
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my @started;
END {
	# Stop every PgBouncer started here (by its pid) whatever happened.
	kill 'TERM', $_ for @started;
}

# Starts PgBouncer with database 'appdb' (the node's postgres database as
# authenticator) and default_pool_size = 2.  %o: databases => extra lines of
# [databases], settings => extra lines of [pgbouncer].  Returns
# { port, dir, pid }; passes one test ("pgbouncer started") or bails out.
sub start {
	my ($node, $pgbouncer, $password, %o) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $pidfile = "$dir/pgbouncer.pid";
	open my $fh, '>', "$dir/userlist.txt" or die $!;
	print $fh qq{"authenticator" "$password"\n};
	close $fh;
	open $fh, '>', "$dir/pgbouncer.ini" or die $!;
	print $fh "[databases]\nappdb = host=127.0.0.1 port=@{[ $node->port ]} dbname=postgres user=authenticator\n"
	  . ($o{databases} // '') . <<"INI" . ($o{settings} // '');

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
server_tls_sslmode = require
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $pidfile
INI
	close $fh;
	system($pgbouncer, '-d', "$dir/pgbouncer.ini") == 0 or BAIL_OUT("could not start pgbouncer");
	for (1 .. 100) { last if -s $pidfile; select(undef, undef, undef, 0.1); }
	my $pid = -s $pidfile ? PostgreSQL::Test::Utils::slurp_file($pidfile) =~ s/\s+//gr : undef;
	push @started, $pid if $pid;
	ok($pid && kill(0, $pid), "pgbouncer started (pid file $pidfile)");
	return { port => $port, dir => $dir, pid => $pid };
}

1;
