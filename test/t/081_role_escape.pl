# A pooled connection must never revive a previous user's identity without
# a token: once the current role differs from the role set_token switched
# to, the switch is over, whatever path changed the role (SET/RESET "ROLE"
# with any spelling, set_config, DO blocks, procedures, a function's SET
# clause).  Also: set_token refuses a NULL is_local, and WITH HOLD cursors
# are refused while a switch is in force (docs/pooling.md).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';

my ($t, $auth_pw) = DbxOAuthNode->create_with_password_authenticator('role_escape', users => [ $alice, $bob ]);
my $node = $t->node;

$node->safe_psql('postgres', qq{
	CREATE TABLE docs (id int, owner text, body text);
	INSERT INTO docs VALUES (1, '$alice', 'alice-1'), (2, '$bob', 'bob-1');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = (SELECT dbx_oauth.current_identity()));
	GRANT SELECT ON docs TO dbx_oauth_users, authenticator;
	CREATE PROCEDURE away_and_back() LANGUAGE plpgsql AS \$\$
	BEGIN
		RESET "ROLE";
		SET "ROLE" TO "$alice";
	END \$\$;
	GRANT EXECUTE ON PROCEDURE away_and_back() TO PUBLIC;
	-- a function whose SET clause changes the role while it runs
	CREATE FUNCTION as_bob() RETURNS text LANGUAGE sql SET role = "$bob"
	  AS \$\$ SELECT current_user::text \$\$;
	GRANT EXECUTE ON FUNCTION as_bob() TO PUBLIC;
});

my $tok_alice = $t->mint(sub => $alice);
my $auth = $t->connstr('authenticator', $auth_pw, tcp => 1, ssl => 1);

sub as_auth {
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		connstr => $auth, on_error_stop => 0);
	return ($out, $err);
}

my $whoami = q{SELECT current_user, coalesce(dbx_oauth.current_identity(), '-'),
	coalesce(string_agg(body, ',' ORDER BY id), '-') FROM docs;};
my $revived_check = "$alice|-|-";    # alice's role, but no identity and no rows

my ($out, $err) = as_auth(qq{SELECT dbx_oauth.set_token('$tok_alice', false) IS NOT NULL; $whoami});
is($out, "t\n$alice|$alice|alice-1", 'baseline: set_token switches to alice with her rows');

# Each way away from alice's role and back again, after a session-level switch.
for my $case (
	['RESET "ROLE"; SET "ROLE" TO \'' . $alice . '\';', 'quoted "ROLE" (setting names are case-insensitive)'],
	[qq{SET "Role" TO NONE; SET "ROLE" TO "$alice";}, 'mixed-case "Role"'],
	[qq{SELECT set_config('role', 'none', false) IS NOT NULL; SET "ROLE" TO "$alice";}, "set_config('role','none') then SET ROLE"],
	[qq{SELECT set_config('role', 'none', false) IS NOT NULL, set_config('role', '$alice', false) IS NOT NULL;},
		'two set_config calls in one statement (away and back)'],
	[qq{DO \$\$ BEGIN RESET "ROLE"; SET "ROLE" TO "$alice"; END \$\$;}, 'inside a DO block'],
	[qq{DO \$\$ BEGIN PERFORM set_config('role', 'none', false); PERFORM set_config('role', '$alice', false); END \$\$;},
		'set_config inside a DO block'],
	['CALL away_and_back();', 'inside a procedure (CALL)'],
	['SELECT as_bob();', "a function's SET role clause"],
	[qq{BEGIN; SET LOCAL "ROLE" TO NONE; COMMIT;}, 'SET LOCAL "ROLE" NONE, then COMMIT restores the role'])
{
	my ($stmts, $name) = @$case;
	($out, $err) = as_auth(qq{
		SELECT dbx_oauth.set_token('$tok_alice', false) IS NOT NULL;
		$stmts
		$whoami
	});
	my @lines = split /\n/, $out;
	is($lines[-1], $revived_check, "no revival: $name") or diag("$out\n$err");
	unlike($err, qr/ERROR/, "... $name: no errors") or diag($err);
}

# A rolled-back role change restores the switch with the role (as PostgreSQL
# restores the role): no escape, no loss.
($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice', false) IS NOT NULL;
	BEGIN;
	SAVEPOINT s;
	RESET "ROLE";
	ROLLBACK TO SAVEPOINT s;
	$whoami
	COMMIT;
});
is($out, "t\n$alice|$alice|alice-1", 'a role change rolled back to a savepoint restores role and identity together');

# --- volume policies: no validated identity, no policy user ------------------
$node->safe_psql('postgres', q{
	INSERT INTO dbx_oauth.volumes (volume_key, volume_path, policy) VALUES
	  ('uploads', '/Volumes/main/app/uploads', '{"all":[{"usersOnly":true},{"ownerPrefix":true}]}'),
	  ('internal', '/Volumes/main/app/internal', '{"servicePrincipalOnly":true}');
	CREATE TABLE files (volume_key text, path text);
	INSERT INTO files VALUES ('uploads', 'alice@example.com/cv.pdf'), ('gone', 'alice@example.com/old.pdf');
	ALTER TABLE files ENABLE ROW LEVEL SECURITY;
	CREATE POLICY files_read ON files FOR SELECT USING (dbx_oauth.volume_allows(volume_key, 'read', path));
	GRANT SELECT ON files TO dbx_oauth_users, authenticator;
});
($out, $err) = as_auth(qq{
	SET ROLE "$alice";
	SELECT dbx_oauth.volume_allows('uploads', 'read', '$alice/cv.pdf'),
	       dbx_oauth.volume_allows('internal', 'read', 'x');
	SELECT count(*) FROM files;
	RESET ROLE;
	SELECT dbx_oauth.volume_allows('internal', 'read', 'x');
	SELECT dbx_oauth.set_token('$tok_alice', false) IS NOT NULL;
	SELECT dbx_oauth.volume_allows('uploads', 'read', '$alice/cv.pdf');
	SELECT string_agg(path, ',') FROM files;
});
is($out, "f|f
0
f
t
t
$alice/cv.pdf",
	'without a token identity the pool role (even as alice\'s role) gets no policy user; with set_token alice reads her folder, and a row of an unknown volume is hidden, not an error');
is($err, '', '... no errors');

# --- set_token(token, NULL) -------------------------------------------------
($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice', NULL);
	$whoami
});
like($err, qr/ERROR:  22004: is_local must not be null/, 'set_token with a NULL is_local is refused (22004)');
is($out, 'authenticator|-|-', '... and switches nothing');

# --- WITH HOLD cursors --------------------------------------------------------
($out, $err) = as_auth(qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true) IS NOT NULL;
	DECLARE c CURSOR WITH HOLD FOR SELECT body FROM docs;
	COMMIT;
	FETCH ALL FROM c;
	$whoami
});
like($err, qr/ERROR:  0A000: cannot declare a WITH HOLD cursor while a set_token identity is in force/,
	'DECLARE ... WITH HOLD is refused during a local switch');
unlike($out, qr/alice-1/, '... so the pool role never reads alice\'s rows after COMMIT');
($out, $err) = as_auth(qq{
	BEGIN;
	SELECT dbx_oauth.set_token('$tok_alice', true) IS NOT NULL;
	DECLARE c CURSOR FOR SELECT body FROM docs;
	FETCH ALL FROM c;
	COMMIT;
	BEGIN;
	DECLARE h CURSOR WITH HOLD FOR SELECT 1;
	COMMIT;
	FETCH ALL FROM h;
});
is($out, "t\nalice-1\n1", 'cursors without HOLD during a switch, and WITH HOLD without a switch, still work');
is($err, '', '... no errors');

unlike($t->server_log, qr/\Q$tok_alice\E/, 'the token never reaches the server log');

$node->stop;
done_testing();
