# volume_allows() remembers per call site what is the same on every row: the
# volume of the key, the action's enum value and a copy of the session
# identity (docs/volume-policies.md).  None of it may outlive what it was made
# from: a set_token switch, a role change and a policy change are each seen
# by the very next call of the same call site, within one statement (rows of
# one query share the call site) and across the statements of one PL/pgSQL
# block (a simple expression keeps its call site for the whole block).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';

my ($t, $auth_pw) = DbxOAuthNode->create_with_password_authenticator('volume_call_site', users => [ $alice, $bob ]);
my $node = $t->node;

$node->safe_psql('postgres', qq{
	INSERT INTO dbx_oauth.volumes (volume_key, volume_path, policy)
	  VALUES ('uploads', '/Volumes/main/app/uploads', '{"all":[{"usersOnly":true},{"ownerPrefix":true}]}');
	CREATE TABLE files (path text);
	INSERT INTO files SELECT '$alice/f' || g FROM generate_series(1, 3) g;
	ALTER TABLE files ENABLE ROW LEVEL SECURITY;
	CREATE POLICY files_read ON files FOR SELECT USING (dbx_oauth.volume_allows('uploads', 'read', path));
	GRANT SELECT ON files TO dbx_oauth_users, authenticator;
});

my $tok_alice = $t->mint(sub => $alice);
my $tok_bob = $t->mint(sub => $bob);
my $auth = $t->connstr('authenticator', $auth_pw, tcp => 1, ssl => 1);

sub as_auth {
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, connstr => $auth, on_error_stop => 0);
	return ($out, $err);
}

# One statement, one call site of volume_allows; each row first changes the
# identity (set_token, or leaving the switched role), then asks about alice's
# file.  Target-list items are evaluated left to right for each row.
my ($out, $err) = as_auth(qq{
	SELECT i,
	       CASE WHEN tok IS NULL THEN set_config('role', 'none', false) IS NOT NULL
	            ELSE dbx_oauth.set_token(tok, false) IS NOT NULL END AS changed,
	       dbx_oauth.volume_allows('uploads', 'read', '$alice/cv.pdf') AS alice_file
	FROM (VALUES (1, '$tok_alice'), (2, '$tok_bob'), (3, '$tok_alice'), (4, NULL)) v(i, tok);
});
is($out, "1|t|t\n2|t|f\n3|t|t\n4|t|f",
	'within one statement the next row sees the identity set_token switched to, and none after the role changed')
  or diag($err);
is($err, '', '... no errors');

# The same through an RLS policy: a statement per identity on one connection.
($out, $err) = as_auth(qq{
	SELECT dbx_oauth.set_token('$tok_alice', false) IS NOT NULL;
	SELECT count(*) FROM files;
	SELECT dbx_oauth.set_token('$tok_bob', false) IS NOT NULL;
	SELECT count(*) FROM files;
	SELECT dbx_oauth.reset_token();
	SELECT count(*) FROM files;
});
is($out, "t\n3\nt\n0\n\n0", 'RLS: alice sees her 3 files, then bob none, then no identity none') or diag($err);

# One PL/pgSQL block: the simple expression keeps its call site across the
# loop, while the statements between its calls change the policy, the action
# and finally remove the volume.
my ($ret, $sout, $serr) = $node->psql('postgres', qq{
	BEGIN;
	DO \$\$
	DECLARE
		allowed boolean;
		act dbx_oauth.file_action := 'read';
	BEGIN
		FOR step IN 1..4 LOOP
			allowed := dbx_oauth.volume_allows('uploads', act, '$alice/cv.pdf', NULL,
			                                   ROW('$alice', false)::dbx_oauth.policy_user);
			RAISE NOTICE 'step %: %', step, allowed;
			IF step = 1 THEN
				UPDATE dbx_oauth.volumes SET policy = '{"denyAll":true}' WHERE volume_key = 'uploads';
			ELSIF step = 2 THEN
				UPDATE dbx_oauth.volumes SET policy = '{"actions":["upload"]}' WHERE volume_key = 'uploads';
				act := 'upload';
			ELSIF step = 3 THEN
				DELETE FROM dbx_oauth.volumes WHERE volume_key = 'uploads';
			END IF;
		END LOOP;
	END \$\$;
	ROLLBACK;
});
my @steps = $serr =~ /NOTICE:\s+(step \d: \w+)/g;
is(join(',', @steps), 'step 1: t,step 2: f,step 3: t,step 4: f',
	'one call site across statements: a policy change, another action and a removed volume are seen by the next call')
  or diag($serr);
is($node->safe_psql('postgres', q{SELECT count(*) FROM dbx_oauth.volumes}), '1', '... rolled back');

$node->stop;
done_testing();
