# CALL dbx_oauth.set_token_local(token): set_token(token, true) as a
# procedure (the cheap statement form for pooled pipelined transactions,
# docs/pooling.md).  Every escape and refusal that 030 and 081 try on
# set_token is tried here on the procedure, then many clients run it as a
# bind parameter in one pipeline per transaction (extended protocol) through
# PgBouncer in transaction mode and no transaction may see another's rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;
use PooledSeen;
use TestBouncer;

my $pgbouncer = '/usr/sbin/pgbouncer';
# Not a skip: scripts/install-deps installs pgbouncer, so its absence is a failure.
BAIL_OUT("$pgbouncer is not installed (scripts/install-deps installs it)") unless -x $pgbouncer;

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';
my $carol = 'carol@example.com';
my $auth_pw = 'auth-secret-pw';

my $t = DbxOAuthNode->create('set_token_local',
	conf => "dbx_oauth.authenticator_role = 'authenticator'\nlog_statement = none",
	hba => "host all authenticator 127.0.0.1/32 scram-sha-256\nlocal all outsider scram-sha-256\n");
my $node = $t->node;

$node->safe_psql('postgres', qq{
	CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD '$auth_pw';
	-- bind parameters (the tokens) must not reach the log
	ALTER ROLE authenticator SET log_parameter_max_length = 0;
	CREATE ROLE outsider LOGIN PASSWORD '$auth_pw';
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	SELECT dbx_oauth.create_role('$carol', 'USER');
	CREATE TABLE docs (id int, owner text, body text);
	INSERT INTO docs VALUES (1, '$alice', 'alice-1'), (2, '$alice', 'alice-2'), (3, '$bob', 'bob-1'),
	                        (4, '$carol', 'carol-1'), (5, 'nobody', 'nobody-1');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
	GRANT SELECT ON docs TO dbx_oauth_users, authenticator, outsider;
	CREATE PROCEDURE away_and_back() LANGUAGE plpgsql AS \$\$
	BEGIN
		RESET "ROLE";
		SET "ROLE" TO "$alice";
	END \$\$;
	GRANT EXECUTE ON PROCEDURE away_and_back() TO PUBLIC;
	CREATE FUNCTION as_bob() RETURNS text LANGUAGE sql SET role = "$bob"
	  AS \$\$ SELECT current_user::text \$\$;
	GRANT EXECUTE ON FUNCTION as_bob() TO PUBLIC;
	-- what each pooled transaction saw
	CREATE TABLE seen (expected text, usr text, identity text, n int, all_mine bool, pid int);
	GRANT INSERT ON seen TO dbx_oauth_users, authenticator;
});

my (@tokens);
sub mint { my $tok = $t->mint(@_); push @tokens, $tok; return $tok; }
my $tok_alice = mint(sub => $alice);
my $tok_bob = mint(sub => $bob);

sub run_as {
	my ($connstr, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		connstr => $connstr, on_error_stop => 0);
	return ($out, $err);
}
my $auth = $t->connstr('authenticator', $auth_pw, tcp => 1, ssl => 1);
sub as_auth { return run_as($auth, @_); }

my $whoami = q{SELECT current_user, coalesce(dbx_oauth.current_identity(), '-'),
	coalesce(string_agg(body, ',' ORDER BY id), '-') FROM docs;};
my $none = 'authenticator|-|-';
my $as_alice = "$alice|$alice|alice-1,alice-2";
my $as_bob = "$bob|$bob|bob-1";
my $revived = "$alice|-|-";    # alice's role, but no identity and no rows

# --- the switch and its end -----------------------------------------------------
my ($out, $err) = as_auth(qq{
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_alice');
	$whoami
	SELECT dbx_oauth.current_identity_type(), dbx_oauth.claim('sub'), session_user;
	COMMIT;
	$whoami
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_bob');
	$whoami
	CALL dbx_oauth.set_token_local('$tok_alice');
	$whoami
	ROLLBACK;
	$whoami
});
is($out, join("\n", $as_alice, "USER|$alice|authenticator", $none, $as_bob, $as_alice, $none),
	'CALL set_token_local switches role and identity for the transaction only; a second call replaces the first');
is($err, '', '... without errors');

($out, $err) = as_auth(qq{
	CALL dbx_oauth.set_token_local('$tok_alice');
	$whoami
});
is($out, $none, 'outside a transaction block the switch ends with the CALL itself');
is($err, '', '... without errors');

($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_bob') IS NOT NULL;
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_alice');
	$whoami
	COMMIT;
	$whoami
	SELECT dbx_oauth.reset_token();
	$whoami
});
is($out, join("\n", 't', $as_alice, $as_bob, '', $none),
	'over a session-level switch, the local switch ends at COMMIT and the session one is back');

# --- no revival: every way away from the role and back, inside the transaction ---
# (A session-level SET ROLE outlives COMMIT, as in PostgreSQL: the role
# stays, the identity does not.)
for my $case (
	[qq{RESET "ROLE"; SET "ROLE" TO "$alice";}, 'RESET ROLE then SET ROLE back', $revived],
	[qq{SET "Role" TO NONE; SET "ROLE" TO "$alice";}, 'SET ROLE NONE then SET ROLE back', $revived],
	[qq{SET LOCAL ROLE NONE; SET LOCAL ROLE "$alice";}, 'SET LOCAL ROLE away and back', $none],
	[qq{SELECT set_config('role', 'none', true) IS NOT NULL, set_config('role', '$alice', true) IS NOT NULL;},
		'two set_config calls in one statement (away and back)', $none],
	[qq{DO \$\$ BEGIN RESET "ROLE"; SET "ROLE" TO "$alice"; END \$\$;}, 'inside a DO block', $revived],
	['CALL away_and_back();', 'inside a procedure (CALL)', $revived],
	['SELECT as_bob();', "a function's SET role clause", $none])
{
	my ($stmts, $name, $after_commit) = @$case;
	($out, $err) = as_auth(qq{
		BEGIN;
		CALL dbx_oauth.set_token_local('$tok_alice');
		$stmts
		$whoami
		COMMIT;
		$whoami
	});
	my @lines = split /\n/, $out;
	is(join('/', @lines[-2, -1]), "$revived/$after_commit", "no revival: $name") or diag("$out\n$err");
	unlike($err, qr/ERROR/, "... $name: no errors") or diag($err);
}

($out, $err) = as_auth(qq{
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_alice');
	DISCARD ALL;
	ROLLBACK;
	$whoami
});
like($err, qr/ERROR:  25001: DISCARD ALL cannot run inside a transaction block/,
	'DISCARD ALL cannot be used inside the switched transaction');
is($out, $none, '... and the aborted transaction leaves no identity');

($out, $err) = as_auth(qq{
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_alice');
	SAVEPOINT s;
	CALL dbx_oauth.set_token_local('$tok_bob');
	ROLLBACK TO SAVEPOINT s;
	$whoami
	SELECT 1/0;
	COMMIT;
	$whoami
});
is($out, join("\n", $as_alice, $none),
	'ROLLBACK TO SAVEPOINT restores the outer switch; an error aborts it all');

($out, $err) = as_auth(qq{
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_alice');
	DECLARE c CURSOR WITH HOLD FOR SELECT body FROM docs;
	COMMIT;
});
like($err, qr/ERROR:  0A000: cannot declare a WITH HOLD cursor while a set_token identity is in force/,
	'DECLARE ... WITH HOLD is refused after CALL set_token_local');

# --- refusals -------------------------------------------------------------------
my @bad = (
	['expired', $t->mint(sub => $alice, iat => 1000000000), qr/expired/i],
	['forged signature', $t->mint(sub => $alice, tamper => 'signature'), qr/signature/i],
	['untrusted issuer', $t->mint(sub => $alice, iss => 'https://evil.example.com/oidc'), qr/issuer/i],
	['garbage', 'this-is-not-a-token', qr/malformed|invalid token/i],
	['empty', '', qr/malformed|invalid token|empty/i],
	['no OAuth role for the identity', $t->mint(sub => 'nobody@example.com'), qr/no OAuth role/],
);
push @tokens, map { $_->[1] } @bad;
for my $case (@bad) {
	my ($name, $token, $reason) = @$case;
	($out, $err) = as_auth(qq{
		BEGIN;
		CALL dbx_oauth.set_token_local('$tok_alice');
		CALL dbx_oauth.set_token_local('$token');
		COMMIT;
		$whoami
	});
	is($out, $none, "rejected token ($name): no identity");
	like($err, qr/ERROR:  28000: [^\n]*$reason/, "... $name: 28000 naming the reason") or diag($err);
	unlike($err, qr/\Q$token\E/, "... $name: the error does not echo the token") if length $token > 20;
}

($out, $err) = as_auth(q{BEGIN; CALL dbx_oauth.set_token_local(NULL); COMMIT;});
like($err, qr/ERROR:  22004: token must not be null/, 'a NULL token is refused (22004)');

# (PostgreSQL logs a statement it cannot resolve: no token in these two.)
($out, $err) = as_auth(q{SELECT dbx_oauth.set_token_local('not-a-token');});
like($err, qr/ERROR:  42809: dbx_oauth.set_token_local\(unknown\) is a procedure/,
	'set_token_local is a procedure: SELECT cannot call it');
($out, $err) = as_auth(q{CALL dbx_oauth.set_token_local('not-a-token', false);});
like($err, qr/ERROR:  42883: procedure dbx_oauth.set_token_local\(unknown, boolean\) does not exist/,
	'... and it has no session-level form');

my $tok_carol = mint(sub => $carol);
($out, $err) = run_as($t->connstr('outsider', $auth_pw), qq{
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_carol');
	COMMIT;
	SELECT current_user, dbx_oauth.current_identity() IS NULL, count(*) FROM docs;
});
is($out, 'outsider|t|0', 'a session user that is not a member of the role gets no identity');
like($err, qr/ERROR:  42501: permission denied to switch to role "\Q$carol\E"/, '... 42501');

($out, $err) = run_as($t->connstr($alice, mint(sub => $alice)), qq{
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_bob');
	COMMIT;
	$whoami
});
is($out, $as_alice, 'an OAuth end-user session keeps its own identity');
like($err, qr/ERROR:  42501: cannot switch identity in an OAuth end-user session/, '... 42501');

my $tok_revoked = mint(sub => $carol);
$node->safe_psql('postgres', qq{SELECT dbx_oauth.revoke_token('$tok_revoked')});
($out, $err) = as_auth(qq{
	BEGIN;
	CALL dbx_oauth.set_token_local('$tok_revoked');
	COMMIT;
	$whoami
});
is($out, $none, 'a revoked token switches nothing');
like($err, qr/ERROR:  28000: [^\n]*revoked/, '... 28000 revoked');

# --- through PgBouncer: a bind parameter, one pipeline per transaction -----------
my $bouncer = TestBouncer::start($node, $pgbouncer, $auth_pw);
my ($dir, $bport) = @$bouncer{qw(dir port)};
my $fh;

my @users = ($alice, $bob, $carol);
my %rows = ($alice => 2, $bob => 1, $carol => 1);
my %tok = map { $_ => mint(sub => $_) } @users;
my $script = <<'SQL';
\set u random(0, 3)
\if :u = 0
\startpipeline
BEGIN;
INSERT INTO seen SELECT '-', current_user, dbx_oauth.current_identity(), count(*), NULL, pg_backend_pid() FROM docs;
COMMIT;
\endpipeline
SQL
for my $i (1 .. 3) {
	$script .= <<"SQL";
\\elif :u = $i
\\startpipeline
BEGIN;
CALL dbx_oauth.set_token_local(:tok$i);
INSERT INTO seen SELECT CAST(:me$i AS text), current_user, dbx_oauth.current_identity(), count(*), bool_and(owner = CAST(:me$i AS text)), pg_backend_pid() FROM docs;
COMMIT;
\\endpipeline
SQL
}
$script .= "\\endif\n";
open $fh, '>', "$dir/tx.sql" or die $!;
print $fh $script;
close $fh;

my ($clients, $per_client) = (6, 200);
my @define = map { ('-D', "tok$_=$tok{$users[$_-1]}", '-D', "me$_=$users[$_-1]") } 1 .. 3;
my ($pb_out, $pb_err) = ('', '');
{
	local $ENV{PGPASSWORD} = $auth_pw;
	local $ENV{PGSSLMODE} = 'disable';
	IPC::Run::run([ $node->installed_command('pgbench'), '-n', '-M', 'extended',
		'-c', $clients, '-j', 2, '-t', $per_client, '-f', "$dir/tx.sql", @define,
		'-h', '127.0.0.1', '-p', $bport, '-U', 'authenticator', 'appdb' ],
		'>', \$pb_out, '2>', \$pb_err, IPC::Run::timeout(120));
}
my $total = $clients * $per_client;
like($pb_out, qr{number of transactions actually processed: $total/$total},
	"pgbench: $total pipelined transactions with CALL set_token_local(\$1) through pgbouncer")
  or diag("stdout:\n$pb_out\nstderr:\n$pb_err");
PooledSeen::each_user_saw_only_own_rows($node, \@users, \%rows, 'pooled transaction');
is($node->safe_psql('postgres', q{SELECT count(DISTINCT pid) <= 2 FROM seen}), 't',
	'all of it on at most two server connections');
is($node->safe_psql('postgres', q{SELECT count(*) FROM dbx_oauth.sessions}), '0',
	'no server connection is left with a switched identity');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%eyJ%' AND query NOT LIKE '%pg_stat_activity%'}),
	'0', 'no token in pg_stat_activity (the pooled CALL shows $1)');

my $log = $t->server_log;
my @leaked = grep { length $_ > 20 && index($log, $_) >= 0 } @tokens;
is(scalar(@leaked), 0, 'no token reaches the server log');

$node->stop;
done_testing();
