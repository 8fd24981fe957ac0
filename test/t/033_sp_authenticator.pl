# The app's service principal as the authenticator: dbx_oauth.authenticator_role
# names a SERVICE_PRINCIPAL OAuth role, which logs in with its own token on the
# ordinary trust line (no password anywhere) and switches to end users with
# their tokens.  Every other token-login session still may not switch.  Both
# create_role orders (the service principal created before or after the
# setting names it) are exercised, and every rule has an attack on it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my ($alice, $bob, $carol, $dave) = map { "$_\@example.com" } qw(alice bob carol dave);
my ($erin, $frank) = ('erin@example.com', 'frank@example.com');
my $sp = '5a0c9d1e-2b3f-4a5b-8c6d-7e8f9a0b1c2d';           # the app's service principal
my $sp_before = '0b1c2d3e-4f5a-4b6c-9d7e-8f9a0b1c2d3e';    # authenticator of the "before" order

my $t = DbxOAuthNode->create('sp_auth', conf => "log_statement = none\n");
my $node = $t->node;

my @tokens;    # every token used, to prove none reaches the server log
sub mint { my $tok = $t->mint(@_); push @tokens, $tok; return $tok; }

sub set_authenticator {
	my ($role) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET dbx_oauth.authenticator_role = '$role'");
	$node->reload;
	$node->poll_query_until('postgres', "SELECT current_setting('dbx_oauth.authenticator_role') = '$role'")
	  or die "authenticator_role did not become $role";
}

# Runs a psql script on one connection; returns (stdout, stderr).
sub run_as {
	my ($connstr, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		connstr => $connstr, on_error_stop => 0);
	return ($out, $err);
}
sub tcp { return $t->connstr($_[0], $_[1], tcp => 1, ssl => 1); }
sub granted_to {
	my ($role) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT coalesce(string_agg(r.rolname, ',' ORDER BY r.rolname), '-') FROM pg_auth_members m
		JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member
		WHERE a.rolname = '$role' AND r.rolname <> 'dbx_oauth_users'});
}
sub doctor_row {
	my ($check) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT status || ': ' || detail FROM dbx_oauth.doctor() WHERE "check" = '$check'});
}

# --- order 1: the service principal exists before the setting names it ---------------
is(doctor_row('authenticator'), 'ok: dbx_oauth.authenticator_role is not set: create_role grants new roles to no one, and only password roles granted OAuth roles by hand may call set_token.',
	'doctor: no authenticator set');
$node->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('$erin', 'USER');
	SELECT dbx_oauth.create_role('$sp_before', 'SERVICE_PRINCIPAL');
});
set_authenticator($sp_before);
$node->safe_psql('postgres', qq{SELECT dbx_oauth.create_role('$frank', 'USER')});
is(granted_to($sp_before), $frank, 'order 1: create_role grants a new role to the service principal the setting names');
like(doctor_row('authenticator_grants'), qr/^warning: 1 OAuth role\(s\) are not granted to "\Q$sp_before\E".*: "\Q$erin\E"\.$/,
	'order 1: doctor lists the older role the authenticator was not granted');
is($node->safe_psql('postgres', 'SELECT string_agg(r, \',\') FROM dbx_oauth.grant_to_authenticator() r'), $erin,
	'order 1: grant_to_authenticator() grants the older role');
is(granted_to($sp_before), "$erin,$frank", '... now both are granted');
like(doctor_row('authenticator_grants'), qr/^ok: Every OAuth role is granted/, '... and doctor is satisfied');
is($node->safe_psql('postgres', 'SELECT count(*) FROM dbx_oauth.grant_to_authenticator()'), '0',
	'grant_to_authenticator() a second time grants nothing');
like(doctor_row('authenticator'), qr/^warning: Role "\Q$sp_before\E" \(the service principal logging in with its own token\) may call set_token, and it inherits the privileges/,
	'doctor: shows which role may switch, and warns that it inherits the users\' privileges (PostgreSQL 15)');
$node->safe_psql('postgres', qq{ALTER ROLE "$sp_before" NOINHERIT});
like(doctor_row('authenticator'), qr/^ok: Role "\Q$sp_before\E" \(the service principal logging in with its own token\) may call set_token/,
	'... NOINHERIT: ok');

my ($out, $err) = run_as(tcp($sp_before, mint(sub => $sp_before)), qq{
	SELECT session_user, dbx_oauth.current_identity_type();
	BEGIN; SELECT dbx_oauth.set_token('${\ mint(sub => $erin)}', true); SELECT current_user, dbx_oauth.current_identity(); COMMIT;
	BEGIN; SELECT dbx_oauth.set_token('${\ mint(sub => $frank)}', true); SELECT current_user, dbx_oauth.current_identity(); COMMIT;
	SELECT current_user, dbx_oauth.current_identity();
});
is($out, join("\n", "$sp_before|SERVICE_PRINCIPAL", $erin, "$erin|$erin", $frank, "$frank|$frank", "$sp_before|$sp_before"),
	'order 1: the service principal logs in with its token and switches to both users');
is($err, '', '... without errors');

# --- order 2: the setting names the service principal before it exists ------------------
set_authenticator($sp);
like(doctor_row('authenticator'), qr/^error: Role "\Q$sp\E" named by dbx_oauth.authenticator_role does not exist/,
	'order 2: doctor flags the missing authenticator');
my ($ret, $o, $e) = $node->psql('postgres', "SELECT dbx_oauth.create_role('$alice', 'USER')");
like($e, qr/role "\Q$sp\E" named by dbx_oauth.authenticator_role does not exist/,
	'order 2: other roles wait for the authenticator (no silent missing grant)');
is($node->safe_psql('postgres', "SELECT dbx_oauth.create_role('$sp', 'SERVICE_PRINCIPAL')"), $sp,
	'order 2: create_role makes the authenticator itself');
is(granted_to($sp), "$sp_before,$erin,$frank", '... granting it the OAuth roles that exist already, never itself');
$node->safe_psql('postgres', qq{ALTER ROLE "$sp" NOINHERIT});
$node->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	SELECT dbx_oauth.create_role('$carol', 'USER');
	SELECT dbx_oauth.create_role('$dave', 'USER');
	SELECT dbx_oauth.create_role('data-team', 'GROUP');
	SELECT dbx_oauth.create_role('ops-team', 'GROUP');
	GRANT "data-team" TO "$alice";
	GRANT "ops-team" TO "$bob";
	CREATE ROLE plain_trust LOGIN;
	CREATE TABLE docs (id int, owner text, body text);
	INSERT INTO docs VALUES (1, '$alice', 'alice-1'), (2, '$alice', 'alice-2'), (3, '$bob', 'bob-1'),
	                        (4, 'data-team', 'team-1'), (5, '$sp', 'app-1');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity())
	    OR (owner = 'data-team' AND current_user = 'data-team'));
	GRANT SELECT ON docs TO dbx_oauth_users, "$sp";    -- NOINHERIT: the app's own grant
});
is(granted_to($sp), "$sp_before,$alice,$bob,$carol,data-team,$dave,$erin,$frank,ops-team",
	'order 2: roles created afterwards are granted too');
like(doctor_row('authenticator'), qr/^ok: Role "\Q$sp\E" \(the service principal/, 'doctor: the service principal may switch');
is($node->safe_psql('postgres', qq{SELECT count(*) FROM dbx_oauth.doctor_authenticator() WHERE status <> 'ok'}), '0',
	'doctor_authenticator(): nothing to complain about');

# --- the service principal switches to users with their tokens ---------------------------
my $sp_conn = tcp($sp, mint(sub => $sp, scope => 'all-apis'));
my ($tok_alice, $tok_bob, $tok_carol) = map { mint(sub => $_) } ($alice, $bob, $carol);
my $whoami = q{SELECT current_user, coalesce(dbx_oauth.current_identity(), '-'),
	coalesce(string_agg(body, ',' ORDER BY id), '-') FROM docs;};
my $as_sp = "$sp|$sp|app-1";
my $as_alice = "$alice|$alice|alice-1,alice-2";
my $as_bob = "$bob|$bob|bob-1";

($out, $err) = run_as($sp_conn, qq{
	SELECT session_user, dbx_oauth.current_identity_type();
	$whoami
	BEGIN; SELECT dbx_oauth.set_token('$tok_alice', true); $whoami COMMIT;
	$whoami
	BEGIN; SELECT dbx_oauth.set_token('$tok_bob', true); $whoami ROLLBACK;
	$whoami
	BEGIN; SELECT dbx_oauth.set_token('$tok_alice', true, 'data-team'); $whoami COMMIT;
	SELECT dbx_oauth.set_token('$tok_bob');
	$whoami
	SELECT dbx_oauth.reset_token();
	$whoami
});
is($out, join("\n", "$sp|SERVICE_PRINCIPAL", $as_sp, $alice, $as_alice, $as_sp, $bob, $as_bob, $as_sp,
		$alice, "data-team|$alice|alice-1,alice-2,team-1", $bob, $as_bob, '', $as_sp),
	'the service principal logs in with its own token, switches to alice, bob and (as alice) data-team; RLS shows each their rows; the switch ends at COMMIT, ROLLBACK and reset_token()');
is($err, '', '... without errors');

my $script = '';
my @expect;
for my $round (1 .. 5) {
	for my $u ([$tok_alice, $as_alice], [$tok_bob, $as_bob]) {
		$script .= "BEGIN; SELECT dbx_oauth.set_token('$u->[0]', true) IS NOT NULL; $whoami COMMIT;\n$whoami\n";
		push @expect, 't', $u->[1], $as_sp;
	}
}
($out, $err) = run_as($sp_conn, $script);
is($out, join("\n", @expect), 'alice and bob alternate on one service-principal connection: each sees only own rows');

# --- what the service principal may not do -------------------------------------------------
sub sqlstates { my ($s) = @_; return join(',', $s =~ /ERROR:  (\w{5}):/g); }
my $forged = mint(sub => $alice, tamper => 'signature');
my $expired = mint(sub => $alice, iat => time() - 7200, lifetime => 3600);
my $tok_self = mint(sub => $sp);
my $tok_pg = mint(sub => 'postgres');
($out, $err) = run_as($sp_conn, qq{
	BEGIN; SELECT dbx_oauth.set_token('$forged', true); ROLLBACK;
	BEGIN; SELECT dbx_oauth.set_token('$expired', true); ROLLBACK;
	BEGIN; SELECT dbx_oauth.set_token('$tok_alice', true, '$bob'); ROLLBACK;
	BEGIN; SELECT dbx_oauth.set_token('$tok_bob', true, 'data-team'); ROLLBACK;
	BEGIN; SELECT dbx_oauth.set_token('$tok_self', true); ROLLBACK;
	BEGIN; SELECT dbx_oauth.set_token('$tok_alice', true, 'postgres'); ROLLBACK;
	BEGIN; SELECT dbx_oauth.set_token('$tok_pg', true); ROLLBACK;
	BEGIN; SELECT dbx_oauth.set_token('$tok_alice', true, 'plain_trust'); ROLLBACK;
	SET ROLE postgres;
	$whoami
});
is(sqlstates($err), '28000,28000,28000,28000,42501,28000,28000,28000,42501',
	'refused: forged and expired tokens, alice\'s token for bob, bob\'s for a group he is not in, its own token, non-OAuth roles (as_role or token), SET ROLE to the superuser');
like($err, qr/cannot switch to the session's own role "\Q$sp\E"/, '... its own token: cannot switch to itself');
like($err, qr/identity "\Q$alice\E" may not act as role "\Q$bob\E"/, '... a role whose token it lacks');
like($err, qr/identity "\Q$bob\E" may not act as role "data-team"/, '... a group its user is not in');
like($err, qr/role "postgres" is not an OAuth role/, '... a superuser role by name');
is($out, $as_sp, '... and after all that it is still itself, with its own rows');
unlike($err, qr/\Q$forged\E|\Q$expired\E/, '... the errors do not echo the tokens');

($out, $err) = run_as($sp_conn, qq{SET ROLE "$bob"; $whoami});
is($out, "$bob|$sp|app-1", 'SET ROLE to a user without a token yields the privileges, never the identity: bob\'s rows stay hidden');

# --- every other token-login session still may not switch ------------------------------------
my $refusal = qr/ERROR:  42501: cannot switch identity in an OAuth end-user session/;
($out, $err) = run_as(tcp($alice, $tok_alice), "SELECT dbx_oauth.set_token('$tok_bob', true); $whoami");
like($err, $refusal, 'a USER token login still may not switch');
is($out, $as_alice, '... and stays alice');
($out, $err) = run_as(tcp($sp_before, mint(sub => $sp_before)), "SELECT dbx_oauth.set_token('$tok_alice', true)");
like($err, $refusal, 'a service principal the setting does not name may not switch');
($out, $err) = run_as(tcp('data-team', $tok_alice), "SELECT dbx_oauth.set_token('$tok_bob', true)");
like($err, $refusal, 'a GROUP token login may not switch');

# A USER or GROUP named as the authenticator still may not switch, and doctor says so.
set_authenticator($alice);
($out, $err) = run_as(tcp($alice, $tok_alice), "SELECT dbx_oauth.set_token('$tok_bob', true)");
like($err, $refusal, 'a USER named by authenticator_role still may not switch');
like(doctor_row('authenticator'), qr/^error: Authenticator "\Q$alice\E" \(a USER OAuth role\) is a USER identity/,
	'doctor flags a USER authenticator');
set_authenticator('data-team');
($out, $err) = run_as(tcp('data-team', $tok_alice), "SELECT dbx_oauth.set_token('$tok_bob', true)");
like($err, $refusal, 'a GROUP named by authenticator_role may not switch either');
like(doctor_row('authenticator'), qr/^error: .*is a GROUP identity/, 'doctor flags a GROUP authenticator');

set_authenticator($sp);
# ALTER ROLE cannot give an OAuth role these attributes (docs/security-model.md);
# a superuser editing pg_authid directly can, and doctor must see it.
my ($rc, $out, $alter_err) = $node->psql('postgres', qq{ALTER ROLE "$sp" BYPASSRLS});
like($alter_err, qr/cannot be both an OAuth role and BYPASSRLS/, 'ALTER ROLE ... BYPASSRLS is refused for the authenticator');
$node->safe_psql('postgres', qq{UPDATE pg_authid SET rolbypassrls = true WHERE rolname = '$sp'});
like(doctor_row('authenticator'), qr/^error: .*has BYPASSRLS/, 'doctor flags an authenticator with BYPASSRLS');
$node->safe_psql('postgres', qq{UPDATE pg_authid SET rolbypassrls = false, rolsuper = true WHERE rolname = '$sp'});
like(doctor_row('authenticator'), qr/^error: .*is a superuser/, 'doctor flags a superuser authenticator');
$node->safe_psql('postgres', qq{UPDATE pg_authid SET rolsuper = false WHERE rolname = '$sp'});
like(doctor_row('authenticator'), qr/^ok: /, '... and is satisfied again');

# Dropping and re-creating the authenticator: create_role grants the roles again.
$node->safe_psql('postgres', qq{REVOKE SELECT ON docs FROM "$sp"; SELECT dbx_oauth.drop_role('$sp'); SELECT dbx_oauth.create_role('$sp', 'SERVICE_PRINCIPAL');});
is(granted_to($sp), "$sp_before,$alice,$bob,$carol,data-team,$dave,$erin,$frank,ops-team",
	'a re-created authenticator gets every OAuth role again');

# --- no token in the server log ---------------------------------------------------------------
my $log = $t->server_log;
my @leaked = grep { index($log, $_) >= 0 } @tokens;
is(scalar(@leaked), 0, 'no token appears in the server log');

done_testing();
