# Connection economy (docs/benchmarks.md, "Connection economy"): per-user
# pools vs one shared pool through @dbx-oauth/pg-identity, for 10, 100 and
# 1,000 distinct users.  Not part of the test suite (it runs for minutes):
#
#   scripts/check bench/connection_economy.pl        # results in the output and
#                                                    # /tmp/dbx_oauth_connection_economy.json
#
# It makes a cluster like the TAP tests do (DbxOAuthNode: keys, SSL, the
# app's service principal as dbx_oauth.authenticator_role), then runs
# bench/connection_economy.mjs with node, niced unless DBX_BENCH_NICE=0.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;
use NodePackage;

my @counts = split /,/, ($ENV{DBX_BENCH_USERS} // '10,100,1000');
# Up to 3 connections per user for the per-user pools at the largest N, and
# room for the superuser's sampler connections.
my $max_connections = $ENV{DBX_BENCH_MAX_CONNECTIONS} // 3100;

NodePackage::require_node();
my $dir = PostgreSQL::Test::Utils::tempdir;
my (undef, $tarball) = NodePackage::client_tarball($dir);
my $app = "$dir/bench";
mkdir $app;
PostgreSQL::Test::Utils::append_to_file("$app/package.json", '{"name":"connection-economy","private":true,"type":"module"}');
system('cp', "$DbxOAuthNode::SRCDIR/bench/connection_economy.mjs", $app) == 0 or die;
my ($ok, $o, $e) = NodePackage::run_in($app, [ 'npm', 'install', '--no-audit', '--no-fund', '--loglevel=error', $tarball, 'pg@8.23.1' ], 300);
ok($ok, 'the bench driver installs') or diag("$o\n$e");

my $sp = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';
my $t = DbxOAuthNode->create('economy',
	conf => join("\n", "dbx_oauth.authenticator_role = '$sp'", "max_connections = $max_connections",
		'shared_buffers = 128MB', 'log_statement = none', 'log_connections = off',
		'log_disconnections = off', 'log_parameter_max_length = 0'));
my $node = $t->node;
my $max_users = (sort { $b <=> $a } @counts)[0];
$node->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('$sp', 'SERVICE_PRINCIPAL');
	SELECT dbx_oauth.create_role(format('u%s\@example.com', g), 'USER') FROM generate_series(1, $max_users) g;
	CREATE TABLE docs (id serial PRIMARY KEY, owner text NOT NULL, body text);
	INSERT INTO docs (owner, body) SELECT format('u%s\@example.com', g), format('doc-%s-%s', g, k)
	FROM generate_series(1, $max_users) g, generate_series(1, 3) k;
	CREATE INDEX ON docs (owner);
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
	GRANT SELECT ON docs TO dbx_oauth_users;
	ANALYZE docs;
});
my $config = {
	host => '127.0.0.1', port => $node->port + 0, database => 'postgres',
	socketDir => $node->host, superuser => scalar(getpwuid($<)),
	keysDir => $t->keys_dir, kid => 'login-rsa',
	template => $t->mint(sub => 'template@example.com', kid => 'login-rsa'),
	authenticator => { user => $sp, token => $t->mint(sub => $sp, scope => 'all-apis') },
	users => [ map { "u$_\@example.com" } 1 .. $max_users ],
	userCounts => [ map { $_ + 0 } @counts ], requests => 2000, concurrency => 50, maxSeconds => 180,
	maxConnections => $max_connections,
	sharedMax => ($ENV{DBX_BENCH_SHARED_MAX} // 20) + 0,
};
PostgreSQL::Test::Utils::append_to_file("$dir/config.json", encode_json($config));
# Niced by default so a test run disturbs others less; DBX_BENCH_NICE=0 for
# figures (the driver's CPU is part of what per-user pools cost).
my $nice = $ENV{DBX_BENCH_NICE} // 10;
($ok, $o, $e) = NodePackage::run_in($app, [ 'nice', '-n', $nice, 'node', 'connection_economy.mjs' ], 900,
	DBX_BENCH_CONFIG => "$dir/config.json");
ok($ok, 'the bench ran') or diag($e);
diag($e);
my $r = eval { decode_json($o) } // {};
diag("RESULT $o");
if (open my $fh, '>', '/tmp/dbx_oauth_connection_economy.json') { print $fh $o; close $fh; }
is(scalar(grep { $_->{cross_user_rows} != 0 } @{ $r->{results} // [] }), 0, 'no cross-user rows in any run');
done_testing();
