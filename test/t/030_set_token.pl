# set_token / reset_token: one connection of a pool's own role (the
# authenticator) switches to end users' identities.  Real connections; every
# security rule has a case that tries to break it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';
my $carol = 'carol@example.com';
my $auth_pw = 'auth-secret-pw';

# The authenticator is a member of dbx_oauth_users (through the OAuth roles it
# is granted) without a label, so it is refused on the trust lines: it logs
# in on its own password lines placed first.
my $t = DbxOAuthNode->create('set_token',
	conf => "dbx_oauth.authenticator_role = 'authenticator'\nlog_statement = none",
	hba => "local all authenticator scram-sha-256\nhost all authenticator 127.0.0.1/32 scram-sha-256\n"
	  . "local all outsider scram-sha-256\n");
my $node = $t->node;

$node->safe_psql('postgres', qq{
	CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD '$auth_pw';
	CREATE ROLE outsider LOGIN PASSWORD '$auth_pw';
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	SELECT dbx_oauth.create_role('$carol', 'USER');
	SELECT dbx_oauth.create_role('data-team', 'GROUP');
	GRANT "data-team" TO "$alice";
	CREATE TABLE docs (id int, owner text, body text);
	INSERT INTO docs VALUES (1, '$alice', 'alice-1'), (2, '$alice', 'alice-2'),
	                        (3, '$bob', 'bob-1'), (4, 'data-team', 'team-1');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs
	  USING (owner = (SELECT dbx_oauth.current_identity())
	         OR (owner = 'data-team' AND current_user = 'data-team'));
	GRANT SELECT ON docs TO dbx_oauth_users, authenticator, outsider;
	-- Owned by the authenticator: inside, current_user is the authenticator.
	CREATE FUNCTION definer_sees_identity() RETURNS text LANGUAGE sql SECURITY DEFINER
	  AS \$\$ SELECT current_user || '|' || coalesce(dbx_oauth.current_identity(), '-') \$\$;
	ALTER FUNCTION definer_sees_identity() OWNER TO authenticator;
});

is($node->safe_psql('postgres', q{
	SELECT string_agg(r.rolname, ',' ORDER BY r.rolname) FROM pg_auth_members m
	JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles a ON a.oid = m.member
	WHERE a.rolname = 'authenticator'}),
	"$alice,$bob,$carol,data-team",
	'create_role grants every new OAuth role to dbx_oauth.authenticator_role');

# Every token used, to prove none reaches the server log: tokens only ever
# passed to successful calls, and tokens passed to calls that fail.
my (@tokens, @fail_tokens);
sub mint { my $tok = $t->mint(@_); push @tokens, $tok; return $tok; }
sub fail_tok { my $tok = $t->mint(@_); push @fail_tokens, $tok; return $tok; }

my $tok_alice = mint(sub => $alice);
my $tok_bob = mint(sub => $bob);
my $tok_carol = mint(sub => $carol);

# Runs a psql script on one connection; returns (stdout, stderr).  Errors do
# not stop the script; VERBOSITY verbose puts the SQLSTATE in stderr.
sub run_as {
	my ($connstr, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		connstr => $connstr, on_error_stop => 0);
	return ($out, $err);
}
my $auth_tcp = $t->connstr('authenticator', $auth_pw, tcp => 1, ssl => 1);
sub as_auth { return run_as($auth_tcp, @_); }

# Who am I, by what identity, and what does RLS let me see?
my $whoami = q{SELECT current_user, coalesce(dbx_oauth.current_identity(), '-'),
	coalesce(string_agg(body, ',' ORDER BY id), '-') FROM docs;};
my $none = 'authenticator|-|-';
my $as_alice = "$alice|$alice|alice-1,alice-2";
my $as_bob = "$bob|$bob|bob-1";

# --- baseline ----------------------------------------------------------------
my ($out, $err) = as_auth($whoami . q{ SELECT session_user;});
is($out, "$none\nauthenticator", 'the authenticator logs in with its password and has no identity');
is($err, '', '... without errors');

# --- session-level switch ------------------------------------------------------
($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice');
	$whoami
	SELECT session_user, dbx_oauth.current_identity_type(), dbx_oauth.claim('sub');
	BEGIN; $whoami COMMIT;
	$whoami
	SELECT dbx_oauth.reset_token();
	$whoami
});
is($out, join("\n", $alice, $as_alice, "authenticator|USER|$alice", $as_alice, $as_alice, '', $none),
	'session-level set_token: returns the identity, switches role and identity across transactions; reset_token() undoes it');
is($err, '', '... without errors');

# --- one call site, several identities ------------------------------------------
# current_identity() keeps its result per call site and identity: a switch
# between two evaluations of the same call site (the next row of a query, the
# next pass of a PL/pgSQL loop) must show at once.
($out, $err) = as_auth(qq{
	SELECT string_agg(dbx_oauth.set_token(tok, true) || '=' || dbx_oauth.current_identity(), ',' ORDER BY n)
	  FROM unnest(ARRAY['$tok_alice', '$tok_bob', '$tok_alice']) WITH ORDINALITY AS u(tok, n);
	DO \$\$ DECLARE seen text := ''; tok text; BEGIN
	  FOREACH tok IN ARRAY ARRAY['$tok_bob', '$tok_alice', '$tok_bob'] LOOP
	    PERFORM dbx_oauth.set_token(tok, true);
	    seen := seen || dbx_oauth.current_identity() || ',';
	  END LOOP;
	  RAISE NOTICE 'seen %', seen;
	END \$\$;
	$whoami
});
is($out, "$alice=$alice,$bob=$bob,$alice=$alice\n$none",
	'one current_identity() call site follows set_token from row to row; nothing survives the statement');
like($err, qr/seen \Q$bob,$alice,$bob,\E/, '... and from one PL/pgSQL loop pass to the next');

# --- is_local: only for the transaction ---------------------------------------
($out, $err) = as_auth(qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true);
	$whoami
	COMMIT;
	$whoami
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_bob', true);
	$whoami
	ROLLBACK;
	$whoami
});
is($out, join("\n", $alice, $as_alice, $none, $bob, $as_bob, $none),
	'is_local set_token lasts until COMMIT or ROLLBACK');
is($err, '', '... without errors');

($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice', true);
	$whoami
});
like($out, qr/^\Q$alice\E\n\Q$none\E$/, 'is_local set_token outside a transaction block ends with its own statement');

# --- two users alternate on one connection -----------------------------------
my $script = '';
my @expect;
for my $round (1 .. 5) {
	for my $u ([$tok_alice, $as_alice], [$tok_bob, $as_bob]) {
		$script .= "BEGIN; SELECT dbx_oauth.set_token('$u->[0]', true) IS NOT NULL; $whoami COMMIT;\n$whoami\n";
		push @expect, 't', $u->[1], $none;
	}
}
($out, $err) = as_auth($script);
is($out, join("\n", @expect), 'alice and bob alternate on one connection (10 transactions): each sees only own rows, nothing in between');
is($err, '', '... without errors');

# --- a second set_token replaces the first ----------------------------------
($out, $err) = as_auth(qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true);
	SELECT dbx_oauth.set_token('$tok_bob', true);
	$whoami
	COMMIT;
	SELECT dbx_oauth.set_token('$tok_alice');
	SELECT dbx_oauth.set_token('$tok_bob');
	$whoami
	SELECT dbx_oauth.reset_token();
	$whoami
});
is($out, join("\n", $alice, $bob, $as_bob, $alice, $bob, $as_bob, '', $none),
	'a second set_token replaces the first (transaction and session level)');

# A local switch on top of a session-level one: after COMMIT the role goes
# back to the session's, and so does the identity (never the local one).
($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice') IS NOT NULL;
	SELECT dbx_oauth.claim('sub');
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_bob', true) IS NOT NULL;
	$whoami
	SELECT dbx_oauth.claim('sub'), dbx_oauth.claims()->>'sub';
	COMMIT;
	SELECT current_user, dbx_oauth.current_identity(),
	       count(*) FILTER (WHERE owner <> '$alice') FROM docs;
	SELECT dbx_oauth.claim('sub'), dbx_oauth.claims()->>'sub';
});
is($out, join("\n", 't', $alice, 't', $as_bob, "$bob|$bob", "$alice|$alice|0", "$alice|$alice"),
	'a local switch inside a session-level one: after COMMIT never the local identity, its claims or its rows');

# --- the identity cannot be forged ---------------------------------------------
($out, $err) = as_auth(qq{
	SET dbx_oauth.identity = '$alice';
	SELECT set_config('dbx_oauth.identity', '$alice', false);
	SELECT set_config('dbx_oauth.current_identity', '$alice', true);
	SET dbx_oauth.authenticator_role = 'outsider';
	SET dbx_oauth.issuers = 'https://evil.example.com/oidc';
	SET dbx_oauth.jwks_file = '/tmp/evil.json';
	$whoami
	SET ROLE "$alice";
	SELECT current_user, dbx_oauth.current_identity() IS NULL, count(*) FROM docs;
	RESET ROLE;
	SELECT set_config('role', '$alice', false);
	SELECT current_user, dbx_oauth.current_identity() IS NULL, count(*) FROM docs;
	RESET ALL;
	$whoami
});
is($out, join("\n", $none, "$alice|t|0", $alice, "$alice|t|0", "$alice|-|-"),
	'SET/set_config of dbx_oauth.* and SET ROLE to an OAuth role give no identity and no rows (RESET ALL keeps the role)');
my @denied = ($err =~ /ERROR:  (\w+):/g);
is_deeply(\@denied, [('42602') x 3, ('55P02') x 3],
	'... dbx_oauth.* names are reserved and the security settings cannot be SET')
  or diag($err);

($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice');
	RESET ALL;
	SELECT current_user, dbx_oauth.current_identity();
	SET dbx_oauth.identity = '$bob';
	SELECT set_config('dbx_oauth.identity', '$bob', false);
	$whoami
});
is($out, join("\n", $alice, "$alice|$alice", $as_alice),
	'RESET ALL and SET dbx_oauth.* do not change a switched identity');

# Changing the role after a switch drops the identity, and going back to the
# switched-to role does not revive it (no token was presented again).
for my $case (
	['SET ROLE "' . $bob . '"', "$bob|-|-"],
	['SET ROLE NONE', $none],
	['RESET ROLE', $none],
	['SET SESSION AUTHORIZATION DEFAULT', $none],
	['SET LOCAL ROLE "' . $bob . '"', "$bob|-|-"],
	["SELECT set_config('role', '$bob', false) IS NOT NULL", "$bob|-|-", 't'],
	['DISCARD ALL', $none])
{
	my ($stmt, $after, $stmt_out) = @$case;
	my $in_tx = $stmt =~ /LOCAL/;
	($out, $err) = as_auth(qq{
		SELECT dbx_oauth.set_token('$tok_alice') IS NOT NULL;
		@{[ $in_tx ? 'BEGIN;' : '' ]}
		$stmt;
		$whoami
		@{[ $in_tx ? 'COMMIT;' : '' ]}
		SET ROLE "$alice";
		SELECT current_user, dbx_oauth.current_identity() IS NULL, count(*) FROM docs;
	});
	is($out, join("\n", 't', ($stmt_out // ()), $after, "$alice|t|0"),
		"after set_token, $stmt leaves no identity, and SET ROLE back to the role does not revive it");
	is($err, '', "... $stmt: no errors");
}

# set_config('role', ...) is a function call, not a utility statement: the
# switch is dropped before the next statement, so going back to the role
# with set_config cannot revive the identity either.
($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice') IS NOT NULL;
	SELECT set_config('role', '$bob', false) IS NOT NULL;
	SELECT set_config('role', '$alice', false) IS NOT NULL;
	SELECT current_user, dbx_oauth.current_identity() IS NULL, count(*) FROM docs;
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true) IS NOT NULL;
	SELECT set_config('role', '$bob', true) IS NOT NULL;
	SELECT set_config('role', '$alice', true) IS NOT NULL;
	SELECT current_user, dbx_oauth.current_identity() IS NULL, count(*) FROM docs;
	COMMIT;
});
is($out, join("\n", 't', 't', 't', "$alice|t|0", 't', 't', 't', "$alice|t|0"),
	'after set_token, set_config(role) away and back (session or local) does not revive the identity');
is($err, '', '... no errors');

# A SECURITY DEFINER function does not change the role a switch is checked
# against: inside it current_user is the definer, yet the identity stays.
($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice') IS NOT NULL;
	SELECT definer_sees_identity();
	SELECT current_user, dbx_oauth.current_identity();
	SELECT dbx_oauth.reset_token();
});
is($out, join("\n", 't', "authenticator|$alice", "$alice|$alice", ''),
	'a SECURITY DEFINER function sees the switched identity, and the switch survives it');
is($err, '', '... no errors');

($out, $err) = as_auth(qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true) IS NOT NULL;
	DISCARD ALL;
});
like($err, qr/ERROR:  25001: DISCARD ALL cannot run inside a transaction block/,
	'DISCARD ALL cannot be used inside the switched transaction (PostgreSQL refuses it)');

# --- errors and rollbacks leave no identity ----------------------------------
($out, $err) = as_auth(qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true) IS NOT NULL;
	SELECT 1/0;
	$whoami
	ROLLBACK;
	$whoami
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice') IS NOT NULL;
	ROLLBACK;
	$whoami
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice') IS NOT NULL;
	SELECT 1/0;
	COMMIT;
	$whoami
});
is($out, join("\n", 't', $none, 't', $none, 't', $none),
	'an error or ROLLBACK inside the transaction leaves no identity (is_local and session level)');
like($err, qr/22012.*current transaction is aborted.*22012/s, '... the errors were the expected ones');

($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice') IS NOT NULL;
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_bob', true) IS NOT NULL;
	$whoami
	SELECT 1/0;
	ROLLBACK;
	$whoami
	BEGIN;
	SELECT dbx_oauth.reset_token();
	$whoami
	ROLLBACK;
	$whoami
});
is($out, join("\n", 't', 't', $as_bob, $as_alice, '', $none, $as_alice),
	'an abort restores the switch that was in force before the transaction (also after reset_token)');

# ROLLBACK TO SAVEPOINT after a set_token inside the savepoint restores the
# outer identity, as PostgreSQL restores the outer role.
($out, $err) = as_auth(qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true) IS NOT NULL;
	SAVEPOINT s;
	SELECT dbx_oauth.set_token('$tok_bob', true) IS NOT NULL;
	ROLLBACK TO SAVEPOINT s;
	SELECT current_user, dbx_oauth.current_identity(),
	       count(*) FILTER (WHERE owner = '$bob'), count(*) FILTER (WHERE owner <> '$alice')
	FROM docs;
	COMMIT;
	$whoami
});
is($out, join("\n", 't', 't', "$alice|$alice|0|0", $none),
	'ROLLBACK TO SAVEPOINT after an inner set_token restores the outer identity, never the inner one');

# --- bad tokens: 28000 naming the reason, no identity kept --------------------
my @bad = (
	['expired', fail_tok(sub => $alice, iat => 1000000000), qr/expired/i],
	['forged signature', fail_tok(sub => $alice, tamper => 'signature'), qr/signature/i],
	['forged payload', fail_tok(sub => $alice, tamper => 'payload'), qr/signature/i],
	['untrusted issuer', fail_tok(sub => $alice, iss => 'https://evil.example.com/oidc'), qr/issuer/i],
	['alg none', fail_tok(sub => $alice, alg_none => undef), qr/algorithm|alg/i],
	['garbage', 'this-is-not-a-token', qr/malformed|invalid token/i],
	['empty', '', qr/malformed|invalid token|empty/i],
	['no OAuth role for the identity', fail_tok(sub => 'nobody@example.com'), qr/no OAuth role/],
);
for my $case (@bad) {
	my ($name, $token, $reason) = @$case;
	($out, $err) = as_auth(qq{
		SELECT dbx_oauth.set_token('$tok_bob', true) IS NOT NULL;
		BEGIN;
		SELECT dbx_oauth.set_token('$tok_alice', true) IS NOT NULL;
		SELECT dbx_oauth.set_token('$token', true);
		$whoami
		COMMIT;
		$whoami
		SELECT dbx_oauth.set_token('$token');
		$whoami
	});
	is($out, join("\n", 't', 't', $none, $none), "rejected token ($name): the transaction keeps no identity");
	my @states = ($err =~ /ERROR:  (\w+):/g);
	is_deeply(\@states, ['28000', '25P02', '28000'], "... $name: SQLSTATE 28000") or diag($err);
	like($err, qr/ERROR:  28000: [^\n]*$reason/, "... $name: the message names the reason");
	unlike($err, qr/\Q$token\E/, "... $name: the error does not echo the token") if length $token > 20;
}

($out, $err) = as_auth(q{SELECT dbx_oauth.set_token(NULL, true);});
like($err, qr/ERROR:  22004: token must not be null/, 'a NULL token is refused');

# --- who may call set_token -------------------------------------------------------
my $tok_alice_2 = fail_tok(sub => $alice);
($out, $err) = run_as($t->connstr('outsider', $auth_pw), qq{
	SELECT dbx_oauth.set_token('$tok_alice_2');
	SELECT dbx_oauth.set_token('$tok_alice_2', true);
	SELECT current_user, dbx_oauth.current_identity() IS NULL, count(*) FROM docs;
});
is($out, 'outsider|t|0', 'a session user that is not a member of the role gets no identity');
like($err, qr/ERROR:  42501: permission denied to switch to role "\Q$alice\E".*ERROR:  42501/s,
	'... and gets 42501 (session and local)');

# The switched-to role is a member of nothing that lets it switch further:
# after SET ROLE to a role, membership is still checked for the session user.
$node->safe_psql('postgres', qq{GRANT "$alice" TO outsider;});
($out, $err) = run_as($t->connstr('outsider', $auth_pw), qq{
	SELECT dbx_oauth.set_token('@{[ fail_tok(sub => $bob) ]}');
	SELECT dbx_oauth.set_token('$tok_alice');
	SELECT current_user, dbx_oauth.current_identity();
});
is($out, "$alice\n$alice|$alice", 'a member of alice may switch to alice ...');
like($err, qr/ERROR:  42501: permission denied to switch to role "\Q$bob\E"/, '... but not to bob');
$node->safe_psql('postgres', qq{REVOKE "$alice" FROM outsider;});

# An end user logged in with a token cannot switch to anyone, even herself.
my $tok_bob_2 = fail_tok(sub => $bob);
($out, $err) = run_as($t->connstr($alice, mint(sub => $alice)), qq{
	SELECT dbx_oauth.set_token('$tok_bob_2');
	SELECT dbx_oauth.set_token('$tok_bob_2', true);
	SELECT dbx_oauth.set_token('@{[ fail_tok(sub => $alice) ]}', true);
	$whoami
});
is($out, "$as_alice", 'an OAuth end-user session keeps its own identity');
is_deeply([ $err =~ /ERROR:  (\w+): cannot switch identity in an OAuth end-user session/g ],
	[ ('42501') x 3 ], '... and set_token is refused with 42501')
  or diag($err);

# An end user who is (wrongly) granted another OAuth role is still refused.
$node->safe_psql('postgres', qq{GRANT "$bob" TO "$carol";});
($out, $err) = run_as($t->connstr($carol, $tok_carol), qq{
	SELECT dbx_oauth.set_token('$tok_bob_2');
	SELECT current_user, dbx_oauth.current_identity();
});
is($out, "$carol|$carol", 'an OAuth session that is a member of another OAuth role cannot switch to it');
like($err, qr/ERROR:  42501/, '... 42501');
$node->safe_psql('postgres', qq{REVOKE "$bob" FROM "$carol";});

# --- group roles via as_role --------------------------------------------------------
($out, $err) = as_auth(qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true, 'data-team');
	SELECT current_user, dbx_oauth.current_identity(), string_agg(body, ',' ORDER BY id) FROM docs;
	COMMIT;
	$whoami
});
is($out, join("\n", $alice, "data-team|$alice|alice-1,alice-2,team-1", $none),
	'a group member acts as the group role with her own token (identity stays hers)');
is($err, '', '... without errors');

for my $case (
	['a non-member', $tok_bob_2, 'data-team', qr/28000: identity "\Q$bob\E" may not act as role "data-team"/],
	['another user\'s role', $tok_bob_2, $alice, qr/28000: identity "\Q$bob\E" may not act as role "\Q$alice\E"/],
	['a role that is not an OAuth role', $tok_alice_2, 'outsider', qr/28000: role "outsider" is not an OAuth role/],
	['a role that does not exist', $tok_alice_2, 'no-such-role', qr/28000: role "no-such-role" is not an OAuth role/],
	['a superuser', $tok_alice_2, 'postgres', qr/28000: role "postgres" is not an OAuth role/])
{
	my ($name, $token, $role, $msg) = @$case;
	($out, $err) = as_auth(qq{
		BEGIN;
		SELECT dbx_oauth.set_token('$token', true, '$role');
		COMMIT;
		$whoami
	});
	is($out, $none, "as_role refused for $name: no identity");
	like($err, $msg, "... $name: error names the refusal");
}

# --- the sessions view ----------------------------------------------------------------
($out, $err) = as_auth(qq{
	SELECT count(*) FROM dbx_oauth.sessions WHERE pid = pg_backend_pid();
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true) IS NOT NULL;
	SELECT role_name, identity, identity_type, auth_method, length(token_fingerprint),
	       token_expires_at > now()
	FROM dbx_oauth.sessions WHERE pid = pg_backend_pid();
	COMMIT;
	SELECT count(*) FROM dbx_oauth.sessions WHERE pid = pg_backend_pid();
});
is($out, join("\n", '0', 't', "$alice|$alice|USER|set_token|16|t", '0'),
	'dbx_oauth.sessions shows auth_method set_token during a switch, nothing after it');

# Seen from a monitoring session while another connection holds the switch.
my ($h_in, $h_out, $h_err) = ('', '', '');
my $h_timer = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
my $h = IPC::Run::start(
	[ $node->installed_command('psql'), '-XAtq', '-d', $auth_tcp, '-v', 'ON_ERROR_STOP=1', '-f', '-' ],
	'<', \$h_in, '>', \$h_out, '2>', \$h_err, $h_timer);
$h_in = "SELECT dbx_oauth.set_token('$tok_bob') IS NOT NULL;\n";
$h->pump until $h_out =~ /t\n/ || $h_err ne '' || $h_timer->is_expired;
is($h_err // '', '', 'a second authenticator connection switched to bob');
is($node->safe_psql('postgres', q{
	SELECT s.role_name, s.identity, s.auth_method, a.usename
	FROM dbx_oauth.sessions s JOIN pg_stat_activity a USING (pid)}),
	"$bob|$bob|set_token|authenticator",
	'a superuser sees the switched session: role, identity, method, and the session user');
$h_in .= "\\q\n";
$h->finish;
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM dbx_oauth.sessions'),
	'no session is listed after the connection closes');

# --- label changes reach a pooled connection's cached labels -----------------------------
# set_token caches role labels per backend; a label removed or restored in
# another session must count from the pooled connection's next transaction,
# and a label change that rolls back must not count at all.
{
	my ($in, $out, $err) = ('', '', '');
	my $timer = IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default);
	my $pool = IPC::Run::start(
		[ $node->installed_command('psql'), '-XAtq', '-d', $auth_tcp, '-v', 'ON_ERROR_STOP=0', '-f', '-' ],
		'<', \$in, '>', \$out, '2>', \$err, $timer);
	my $step = 0;
	# Runs one set_token transaction on the pooled connection; returns
	# its result line, or the error text.
	my $pooled_set_token = sub {
		$step++;
		($out, $err) = ('', '');
		$in .= "BEGIN; SELECT coalesce(dbx_oauth.set_token('$tok_alice', true), 'x'); ROLLBACK;\n"
		  . "SELECT 'done-$step';\n";
		$pool->pump until $out =~ /done-$step\n/ || $timer->is_expired;
		$pool->pump_nb;    # drain stderr written before the marker
		my ($line) = grep { $_ ne "done-$step" } split /\n/, $out;
		return $err ne '' ? $err : $line // '';
	};
	is($pooled_set_token->(), $alice, 'pooled connection: set_token for alice (label now cached)');
	$node->safe_psql('postgres', qq{SECURITY LABEL FOR dbx_oauth ON ROLE "$alice" IS NULL});
	like($pooled_set_token->(), qr/no OAuth role for identity/,
		'a label removed in another session is seen by the pooled connection at its next transaction');
	$node->safe_psql('postgres', qq{SECURITY LABEL FOR dbx_oauth ON ROLE "$alice" IS 'USER'});
	is($pooled_set_token->(), $alice, '... and a restored label too');
	$node->safe_psql('postgres', qq{BEGIN; SECURITY LABEL FOR dbx_oauth ON ROLE "$alice" IS 'GROUP'; ROLLBACK;});
	is($pooled_set_token->(), $alice, 'a label change that rolled back changes nothing');
	$node->safe_psql('postgres', qq{SECURITY LABEL FOR dbx_oauth ON ROLE "$alice" IS 'SERVICE_PRINCIPAL'});
	like($pooled_set_token->(), qr/identity type differs/,
		'a label changed to another type is seen at the next transaction');
	$node->safe_psql('postgres', qq{SECURITY LABEL FOR dbx_oauth ON ROLE "$alice" IS 'USER'});
	is($pooled_set_token->(), $alice, '... and changed back');
	$in .= "\\q\n";
	$pool->finish;
}

# --- tokens never reach the server log --------------------------------------------------
# (log_statement = none here: with log_statement = all PostgreSQL itself logs
# statement text, and so any token written as a literal; see docs/pooling.md.)
my $log = $t->server_log;
my @leaked = grep { length($_) > 20 && index($log, $_) >= 0 } @tokens;
is(scalar(@leaked), 0, 'no token passed to a successful set_token appears in the server log')
  or diag(scalar(@leaked) . ' tokens leaked');
like($log, qr/ERROR:  invalid token: .*\n.*ERROR:  permission denied to switch to role/s,
	'the log does contain set_token failures (the checks here are not vacuous)');
# Errors raised by dbx_oauth hide the statement (errhidestmt), so a token
# written as a literal in a failing call does not reach the log either.
my @leaked_fail = grep { length($_) > 20 && index($log, $_) >= 0 } @fail_tokens;
is(scalar(@leaked_fail), 0, 'no token passed to a failing set_token (literal in the SQL text) appears in the server log');

done_testing();
