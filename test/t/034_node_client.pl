# clients/node (@dbx-oauth/pg-identity): built with tsc and tested with node's
# test runner against a real cluster whose authenticator is the app's service
# principal logging in with its own token.  The node tests cover identity
# isolation (1,000 interleaved requests of 200 users on a pool of 10), the
# 401/403 error mapping and the destruction of connections that cannot be
# reset; this file also proves `npm pack` makes an installable tarball and
# that no token reaches the server log.
#
# node and npm come from scripts/install-deps; the dependencies from
# clients/node/node_modules when scripts/build-node made it, else `npm ci`.
use strict;
use warnings;
use File::Path qw(make_path);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;
use NodePackage;

my $dir = PostgreSQL::Test::Utils::tempdir;
*run_in = \&NodePackage::run_in;

# --- the package: dependencies, tsc, npm pack -------------------------------------
NodePackage::require_node();
my ($pkg, $tarball) = NodePackage::client_tarball($dir);
ok(-f "$pkg/dist/index.js" && -f "$pkg/dist/index.d.ts", 'tsc wrote JavaScript and type declarations');
ok(defined $tarball, 'npm pack named the tarball dbx-oauth-pg-identity-<version>.tgz');
my $listing = $tarball ? `tar -tzf '$tarball'` : '';
like($listing, qr{package/dist/index\.js}, '... holding dist/index.js');
unlike($listing, qr{package/(src|test|node_modules)/}, '... and neither sources, tests nor node_modules');
my ($ok, $o, $e);

# --- a cluster whose authenticator is a service principal ---------------------------
my $sp = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
my $t = DbxOAuthNode->create('node_client',
	conf => join("\n",
		"dbx_oauth.authenticator_role = '$sp'",
		'log_statement = all',
		'log_parameter_max_length = 0',
		'max_connections = 40'));
my $node = $t->node;
my ($alice, $bob) = ('alice@example.com', 'bob@example.com');
my @many = map { sprintf('user%03d@example.com', $_) } 1 .. 200;
$node->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('$sp', 'SERVICE_PRINCIPAL');
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	SELECT dbx_oauth.create_role('data-team', 'GROUP');
	GRANT "data-team" TO "$alice";
	SELECT dbx_oauth.create_role(format('user%s\@example.com', lpad(g::text, 3, '0')), 'USER')
	FROM generate_series(1, 200) g;
	CREATE TABLE docs (id serial, owner text);
	INSERT INTO docs (owner) SELECT u FROM unnest(ARRAY['$alice', '$bob']) u, generate_series(1, 2);
	INSERT INTO docs (owner) SELECT format('user%s\@example.com', lpad(g::text, 3, '0')) FROM generate_series(1, 200) g, generate_series(1, 2);
	INSERT INTO docs (owner) VALUES ('nobody'), ('data-team');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
	GRANT SELECT ON docs TO dbx_oauth_users;
	CREATE TABLE secrets (x int);
});

my $sp_token = $t->mint(sub => $sp, scope => 'all-apis');
my $config = {
	host => '127.0.0.1', port => $node->port + 0, database => 'postgres',
	socketDir => $node->host, superuser => scalar(getpwuid($<)),
	keysDir => $t->keys_dir, kid => 'login-rsa',
	template => $t->mint(sub => 'template@example.com', kid => 'login-rsa'),
	authenticator => { user => $sp, token => $sp_token },
	users => [ $alice, $bob ], group => 'data-team', many => \@many, rowsPerUser => 2,
	mintedLog => "$dir/minted.txt",
};
PostgreSQL::Test::Utils::append_to_file("$dir/config.json", encode_json($config));
my %env = (DBX_TEST_CONFIG => "$dir/config.json");

# --- the node tests --------------------------------------------------------------------
($ok, $o, $e) = run_in($pkg, [ 'npm', 'test', '--silent' ], 300, %env);
ok($ok, 'the node tests pass') or diag("$o\n$e");
my ($pass) = $o =~ /^# pass (\d+)/m;
my ($fail) = $o =~ /^# fail (\d+)/m;
is($fail, 0, 'node: no failures');
cmp_ok($pass // 0, '>=', 19, "node: $pass tests passed");
for my $line ($o =~ /^\s*(?:not )?ok \d+ - (.+)$/mg) { note("node: $line"); }
my ($results) = $o =~ /(results \{.*)$/m;
note($results // 'no results line');

# --- the tarball installs and works in a fresh project ------------------------------------
my $app = "$dir/app";
make_path($app);
PostgreSQL::Test::Utils::append_to_file("$app/package.json", '{"name":"smoke","private":true,"type":"module"}');
PostgreSQL::Test::Utils::append_to_file("$app/smoke.mjs", <<'JS');
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { withUserIdentity } from '@dbx-oauth/pg-identity';
const cfg = JSON.parse(readFileSync(process.env.DBX_TEST_CONFIG, 'utf8'));
const pool = new pg.Pool({ host: cfg.host, port: cfg.port, database: cfg.database, ssl: { rejectUnauthorized: false },
  user: cfg.authenticator.user, password: async () => cfg.authenticator.token, max: 2 });
const r = await withUserIdentity(pool).asUser(process.env.SMOKE_TOKEN)
  .query('SELECT dbx_oauth.current_identity() AS identity, count(*)::int AS n FROM docs GROUP BY 1');
console.log(JSON.stringify(r.rows));
await pool.end();
JS
($ok, $o, $e) = run_in($app, [ 'npm', 'install', '--no-audit', '--no-fund', '--loglevel=error', $tarball, 'pg@8.23.1' ], 300);
ok($ok, 'npm install <tarball> pg in a fresh project') or diag("$o\n$e");
($ok, $o, $e) = run_in($app, [ 'node', 'smoke.mjs' ], 60, %env, SMOKE_TOKEN => $t->mint(sub => $bob));
is($o, qq{[{"identity":"$bob","n":2}]\n}, 'the installed package runs a query as bob') or diag($e);

# --- no token in the server log ----------------------------------------------------------
my $log = $t->server_log;
like($log, qr/dbx_oauth\.set_token\(\$1, true\)/, 'the server logged the statements (log_statement = all)');
my @minted = split /\n/, (-f "$dir/minted.txt" ? PostgreSQL::Test::Utils::slurp_file("$dir/minted.txt") : '');
cmp_ok(scalar(@minted), '>=', 200, scalar(@minted) . ' tokens minted by the node tests');
my @leaked = grep { index($log, $_) >= 0 } (@minted, $sp_token);
is(scalar(@leaked), 0, 'no token appears in the server log');

done_testing();
