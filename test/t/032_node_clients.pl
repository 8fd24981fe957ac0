# Real Node.js clients: node `pg` logs in with a token as the password and
# uses the shared-pool pattern (BEGIN; set_token($1, true); ...; COMMIT);
# @databricks/lakebase connects with a password callback and through its own
# OAuth path against the fake workspace's /api/2.0/postgres/credentials.
#
# node and npm are installed by scripts/install-deps: their absence fails
# this test, it is not skipped.
use strict;
use warnings;
use File::Copy qw(copy);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;
use FakeWorkspace;

my $srcnode = "$DbxOAuthNode::SRCDIR/test/node";

# --- node, npm and the locked dependencies ------------------------------------
my $node_version = `node --version 2>&1`;
ok($? == 0 && $node_version =~ /^v(\d+)\./ && $1 >= 20, 'node >= 20 is installed')
  or BAIL_OUT("node is missing or too old: $node_version");
my $npm_version = `npm --version 2>&1`;
ok($? == 0, 'npm is installed') or BAIL_OUT("npm is missing: $npm_version");

my $dir = PostgreSQL::Test::Utils::tempdir;
copy("$srcnode/$_", "$dir/$_") or die "copy $_: $!" for qw(package.json package-lock.json login.mjs);
if (-d "$srcnode/node_modules/pg" && -d "$srcnode/node_modules/\@databricks/lakebase") {
	symlink("$srcnode/node_modules", "$dir/node_modules") or die "symlink: $!";
	note('using the existing test/node/node_modules');
} else {
	my ($o, $e) = ('', '');
	my $ok = IPC::Run::run([ 'npm', 'ci', '--no-audit', '--no-fund', '--loglevel=error' ],
		init => sub { chdir $dir or die $! }, '>', \$o, '2>', \$e, IPC::Run::timeout(240));
	ok($ok, 'npm ci installs the locked dependencies') or diag("$o\n$e");
}
my $lock = decode_json(PostgreSQL::Test::Utils::slurp_file("$dir/package-lock.json"));
is($lock->{packages}{'node_modules/pg'}{version}, '8.23.1', 'package-lock pins pg 8.23.1');
is($lock->{packages}{'node_modules/@databricks/lakebase'}{version}, '0.6.0', 'package-lock pins @databricks/lakebase 0.6.0');

# --- a cluster trusting the fake workspace (keys fetched by the worker) --------------------------------------
my $ws = FakeWorkspace->start(dir => "$dir/ws");
my $auth_pw = 'auth-secret-pw';
my $t = DbxOAuthNode->create('node',
	conf => join("\n",
		"dbx_oauth.issuers = '" . $ws->issuer . "'",
		"dbx_oauth.jwks_file = ''",    # keys come from the workspace (discovery, jwks_uri)
		"dbx_oauth.ca_file = '" . $ws->ca_file . "'",
		"dbx_oauth.authenticator_role = 'authenticator'",
		# log_statement = all (the TAP default) would log bind parameters: tokens
		"log_parameter_max_length = 0"),
	hba => "host all authenticator 127.0.0.1/32 scram-sha-256\n");
my $node = $t->node;

my ($alice, $bob, $carol) = ('alice@example.com', 'bob@example.com', 'carol@example.com');
$node->safe_psql('postgres', qq{
	CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD '$auth_pw';
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	SELECT dbx_oauth.create_role('$carol', 'USER');
	CREATE TABLE docs (id int, owner text);
	INSERT INTO docs SELECT g, CASE WHEN g <= 2 THEN '$alice' WHEN g <= 5 THEN '$bob' ELSE 'nobody' END
	FROM generate_series(1, 6) g;
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
	GRANT SELECT ON docs TO dbx_oauth_users, authenticator;
});

$node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM dbx_oauth.keys')
  or die 'the worker did not fetch the workspace keys';

my %tok = ($alice => $ws->mint(sub => $alice), $bob => $ws->mint(sub => $bob));
my $bad = $ws->mint(sub => $alice, tamper => 'signature');
my $ws_token = $ws->mint(sub => $carol);    # carol's workspace token (the SDK's DATABRICKS_TOKEN)

# --- run the script -------------------------------------------------------------------
my ($out, $err) = ('', '');
my $ran;
{
	local %ENV = (%ENV,
		DBX_HOST => '127.0.0.1', DBX_PORT => $node->port, DBX_DB => 'postgres',
		DBX_USER_A => $alice, DBX_TOKEN_A => $tok{$alice},
		DBX_USER_B => $bob, DBX_TOKEN_B => $tok{$bob},
		DBX_BAD_TOKEN => $bad,
		DBX_AUTH_USER => 'authenticator', DBX_AUTH_PASSWORD => $auth_pw,
		DBX_WORKSPACE_URL => $ws->url, DBX_WORKSPACE_USER => $carol,
		DATABRICKS_HOST => $ws->url, DATABRICKS_TOKEN => $ws_token,
		DATABRICKS_CONFIG_FILE => "$dir/no-databrickscfg",
		NODE_EXTRA_CA_CERTS => $ws->ca_file);
	delete @ENV{qw(PGHOST PGPORT PGUSER PGDATABASE PGSSLMODE PGPASSWORD LAKEBASE_ENDPOINT DATABRICKS_CLIENT_ID)};
	$ran = IPC::Run::run([ 'node', "$dir/login.mjs" ], '>', \$out, '2>', \$err,
		IPC::Run::timeout(90));
}
ok($ran, 'the node script ran to the end') or diag("stderr:\n$err\nstdout:\n$out");
my $r = eval { decode_json($out) } // {};

# 1. direct login
is_deeply($r->{direct}, { usr => $alice, identity => $alice, type => 'USER', ssl => JSON::PP::true, rows => 2, all_mine => JSON::PP::true },
	'node pg: alice logs in over TCP+SSL with her token and sees only her rows')
  or diag(explain($r->{direct}));
is($r->{direct_set_token}{code}, '42501', 'node pg: an OAuth end-user session cannot call set_token');
is($r->{direct_wrong_token}{code}, '28P01', 'node pg: bob\'s token does not log in as alice');
like($r->{direct_wrong_token}{message} // '', qr/password authentication failed for user "\Q$alice\E"/, '... with the generic message');
is($r->{direct_no_ssl}{code}, '28P01', 'node pg: TCP without SSL is refused');

# 2. shared pool
my $s = $r->{pool}{summary} // {};
for my $u ($alice, $bob) {
	is_deeply([ $s->{$u}{n}, $s->{$u}{bad}, $s->{$u}{rows} ], [ 20, [], [ $u eq $alice ? 2 : 3 ] ],
		"shared pool: all 20 concurrent requests of $u ran as $u and saw only her rows")
	  or diag(explain($s->{$u}));
}
is_deeply([ $s->{'-'}{n}, $s->{'-'}{bad}, $s->{'-'}{rows} ], [ 20, [], [0] ],
	'shared pool: requests without a token ran as the authenticator with no identity and no rows')
  or diag(explain($s->{'-'}));
ok(($r->{pool}{server_connections} // 0) >= 1 && $r->{pool}{server_connections} <= 2,
	'shared pool: 60 requests of three kinds shared at most 2 server connections');
is($r->{pool_bad_token}{code}, '28000', 'shared pool: a forged token fails the request with 28000');
unlike($r->{pool_bad_token}{message} // '', qr/\Q$bad\E/, '... the error does not echo the token');
is($r->{pool_error_after_switch}{code}, '22012', 'shared pool: an error after the switch fails the request');
for my $k (qw(pool_after_bad pool_after_error)) {
	is_deeply([ map { [ $_->{usr}, $_->{identity}, $_->{rows} ] } @{ $r->{$k} // [] } ],
		[ [ 'authenticator', undef, 0 ], [ 'authenticator', undef, 0 ] ],
		"shared pool: both pooled connections are clean afterwards ($k)");
}

# 3. @databricks/lakebase
is_deeply($r->{lakebase_password}, { usr => $bob, identity => $bob, rows => 3, callback_calls => 1 },
	'@databricks/lakebase: createLakebasePool with a password callback logs bob in with his token')
  or diag(explain($r->{lakebase_password}));
is_deeply($r->{lakebase_endpoint}, { usr => $carol, identity => $carol, iss => $ws->issuer, second_identity => $carol },
	'@databricks/lakebase: the endpoint path fetches a token from /api/2.0/postgres/credentials and logs carol in')
  or diag(explain($r->{lakebase_endpoint}));
ok(($ws->stats->{credentials} // 0) >= 1, '... the workspace credentials API was called');

# --- no token in the server log --------------------------------------------------------
my $log = $t->server_log;
like($log, qr/set_token\(\$1, true\)/, 'the server logged the pooled statements (log_statement = all)');
my @leaked = grep { index($log, $_) >= 0 } (values %tok, $bad, $ws_token);
is(scalar(@leaked), 0, 'no token (bind parameter or password) appears in the server log');

$ws->stop;
done_testing();
