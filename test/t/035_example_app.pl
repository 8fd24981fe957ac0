# examples/appkit-express, the app docs/migrating-from-per-user-pools.md
# walks through, run as written: an AppKit-style Express app whose one
# pg.Pool logs in as the app's service principal with a token from the
# (fake) workspace's client-credentials endpoint, serving two users with RLS
# through @dbx-oauth/pg-identity (after.mjs); the per-user-pool version it
# replaces (before.mjs); Drizzle and Kysely bound to a user's transaction
# (orm-hooks.mjs).  No password anywhere: pg_hba.conf has only trust lines
# for OAuth roles, where the hook demands a token.
use strict;
use warnings;
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;
use FakeWorkspace;
use NodePackage;

NodePackage::require_node();

# The guide shows each file of the example in full; these are the files run here.
my $doc = PostgreSQL::Test::Utils::slurp_file("$DbxOAuthNode::SRCDIR/docs/migrating-from-per-user-pools.md");
my %blocks = $doc =~ /<!-- file: (\S+) -->\n```\w*\n(.*?)```/sg;
is_deeply([ sort keys %blocks ], [ map { "examples/appkit-express/$_" } qw(after.mjs before.mjs orm-hooks.mjs setup.sql sp-token.mjs) ],
	'docs/migrating-from-per-user-pools.md shows the example\'s files');
for my $f (sort keys %blocks) {
	is($blocks{$f}, PostgreSQL::Test::Utils::slurp_file("$DbxOAuthNode::SRCDIR/$f"), "... $f exactly as it is run");
}
my $dir = PostgreSQL::Test::Utils::tempdir;
my (undef, $tarball) = NodePackage::client_tarball($dir);
my $app = NodePackage::prepare('examples/appkit-express', "$dir/app");
my ($ok, $o, $e) = NodePackage::run_in($app, [ 'npm', 'install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error', $tarball ], 300);
ok($ok, 'the client tarball installs into the example app') or diag("$o\n$e");

# --- the workspace, the app's service principal, the cluster ---------------------------
my $ws = FakeWorkspace->start(dir => "$dir/ws");
my $sp = '7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a';
my $sp_secret = 'dose-example-secret';    # the app's OAuth client secret (workspace side), not a database password
$ws->add_client($sp, $sp_secret);
my $t = DbxOAuthNode->create('example',
	conf => join("\n",
		"dbx_oauth.issuers = '" . $ws->issuer . "'",
		"dbx_oauth.jwks_file = ''",
		"dbx_oauth.ca_file = '" . $ws->ca_file . "'",
		"dbx_oauth.authenticator_role = '$sp'",
		'log_parameter_max_length = 0'));
my $node = $t->node;
my ($alice, $bob) = ('alice@example.com', 'bob@example.com');
# The setup block of docs/migrating-from-per-user-pools.md, as the doc shows it.
my $setup = PostgreSQL::Test::Utils::slurp_file("$app/setup.sql");
$setup =~ s/:'app_sp'/'$sp'/g;
$node->safe_psql('postgres', $setup);
$node->safe_psql('postgres', qq{
	INSERT INTO docs (owner, body) VALUES ('$alice', 'alice-1'), ('$alice', 'alice-2'), ('$bob', 'bob-1'), ('nobody', 'hidden');
});
$node->poll_query_until('postgres', 'SELECT count(*) > 0 FROM dbx_oauth.keys')
  or die 'the worker did not fetch the workspace keys';
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_hba_file_rules WHERE auth_method IN ('md5', 'scram-sha-256', 'password') AND user_name <> '{plain_pw}'}),
	'0', 'pg_hba.conf has no password line the app could use');

my %tok = ($alice => $ws->mint(sub => $alice), $bob => $ws->mint(sub => $bob));
my $forged = $ws->mint(sub => $alice, tamper => 'signature');

my %pgenv = (PGHOST => '127.0.0.1', PGPORT => $node->port, PGDATABASE => 'postgres', PGSSLMODE => 'no-verify',
	DATABRICKS_HOST => $ws->url, DATABRICKS_CLIENT_ID => $sp, DATABRICKS_CLIENT_SECRET => $sp_secret,
	NODE_EXTRA_CA_CERTS => $ws->ca_file);

# Starts "node $script" in the app; returns (harness, base url).
sub start_app {
	my ($script) = @_;
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, %pgenv, PORT => $port);
	my $h = IPC::Run::start([ 'node', $script ], init => sub { chdir $app or die $! },
		'>', \$out, '2>', \$err, IPC::Run::timeout(120));
	my $http = HTTP::Tiny->new(timeout => 5);
	for (1 .. 100) {
		$h->pump_nb;
		last if $out =~ /listening on/;
		die "$script exited: $err" unless $h->pumpable;
		select(undef, undef, undef, 0.1);
	}
	like($out, qr/listening on $port/, "$script listens");
	return ($h, "http://127.0.0.1:$port", \$err);
}
sub get {
	my ($url, %headers) = @_;
	my $r = HTTP::Tiny->new(timeout => 20)->get($url, { headers => \%headers });
	return ($r->{status}, eval { decode_json($r->{content}) } // $r->{content});
}
sub backends {
	return $node->safe_psql('postgres', q{
		SELECT coalesce(string_agg(u || '=' || n, ',' ORDER BY u), '-') FROM (
		  SELECT usename AS u, count(*) AS n FROM pg_stat_activity
		  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY usename) s});
}

# --- after: one pool, the service principal as the authenticator --------------------------
my ($h, $url, $err) = start_app('after.mjs');
my @seen;
for my $round (1 .. 10) {
	for my $u ($alice, $bob) {
		my ($status, $body) = get("$url/api/docs", 'x-forwarded-access-token' => $tok{$u});
		push @seen, "$u:$status:" . join(',', map { $_->{body} } @{ ref $body eq 'ARRAY' ? $body : [] });
	}
}
my %expect = ($alice => 'alice-1,alice-2', $bob => 'bob-1');
is_deeply([ grep { my ($u, $s, $b) = split /:/; $s != 200 || $b ne $expect{$u} } @seen ], [],
	'after: 20 alternating requests of alice and bob each return only the user\'s rows');
my ($status, $body) = get("$url/api/me", 'x-forwarded-access-token' => $tok{$bob});
is_deeply([ $status, $body ], [ 200, { identity => $bob, docs => 1 } ], 'after: /api/me runs two statements in one transaction as bob');
($status, $body) = get("$url/api/docs");
is_deeply([ $status, $body->{code} ], [ 401, 'NO_TOKEN' ], 'after: no token is a 401, not a 500');
($status, $body) = get("$url/api/docs", 'x-forwarded-access-token' => $forged);
is_deeply([ $status, $body->{code} ], [ 401, '28000' ], 'after: a forged token is a 401 (28000)');
unlike(ref $body ? $body->{error} : $body, qr/\Q$forged\E/, '... without the token in the answer');
like(backends(), qr/^\Q$sp\E=\d+$/, 'after: every server connection of the app is the service principal\'s (' . backends() . ')');
$h->signal('TERM');
$h->finish;

# --- the ORMs: Drizzle and Kysely inside a user's transaction ------------------------------
($ok, $o, $e) = NodePackage::run_in($app, [ 'node', 'orm-hooks.mjs' ], 60, %pgenv, USER_TOKEN => $tok{$alice});
is($o, qq{{"drizzle":["alice-1","alice-2"],"kysely":["alice-1","alice-2"]}\n}, 'Drizzle and Kysely bound to alice\'s transaction see her rows') or diag($e);

# --- before: a pool per user ------------------------------------------------------------------
($h, $url, $err) = start_app('before.mjs');
@seen = ();
for my $u ($alice, $bob, $alice, $bob) {
	my ($s, $b) = get("$url/api/docs", 'x-forwarded-email' => $u, 'x-forwarded-access-token' => $tok{$u});
	push @seen, "$s:" . join(',', map { $_->{body} } @{ ref $b eq 'ARRAY' ? $b : [] });
}
is_deeply(\@seen, [ "200:alice-1,alice-2", "200:bob-1", "200:alice-1,alice-2", "200:bob-1" ], 'before: per-user pools also show each user her rows');
like(backends(), qr/^\Q$alice\E=\d,\Q$bob\E=\d$/, 'before: each user holds her own server connections (' . backends() . ')');
$h->signal('TERM');
$h->finish;

# --- no token in the server log ------------------------------------------------------------
my $log = $t->server_log;
my @leaked = grep { index($log, $_) >= 0 } (values %tok, $forged);
is(scalar(@leaked), 0, 'no token appears in the server log');
$ws->stop;
done_testing();
