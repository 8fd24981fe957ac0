# current_identity() in a query that reads tables is planned as an InitPlan
# (src/pg/session/identity_initplan.cpp): a policy written the natural way,
# USING (owner = dbx_oauth.current_identity()), computes the identity once
# per execution.  The rewrite must stay exact where a constant folded into
# the plan would not: plans cached across identity switches, several
# identities acting as one role, two switches in one transaction.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../perl";
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my ($alice, $bob, $carol) = ('alice@example.com', 'bob@example.com', 'carol@example.com');
my ($t, $auth_pw) = DbxOAuthNode->create_with_password_authenticator('initplan',
	users => [ $alice, $bob, $carol ]);
my $node = $t->node;
$node->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('data-team', 'GROUP');
	GRANT "data-team" TO "$alice", "$carol";
	GRANT "data-team" TO authenticator;
	CREATE TABLE docs (id int PRIMARY KEY, owner text, body text);
	INSERT INTO docs VALUES (1, '$alice', 'a1'), (2, '$bob', 'b1'), (3, '$carol', 'c1'),
		(4, '$alice', 'a2'), (5, 'data-team', 'team');
	ALTER TABLE docs ENABLE ROW LEVEL SECURITY;
	CREATE POLICY own_rows ON docs USING (owner = dbx_oauth.current_identity());
	GRANT SELECT, UPDATE ON docs TO dbx_oauth_users, "data-team", authenticator;
	CREATE TABLE merged (note text);
});
my %tok = map { $_ => $t->mint(sub => $_) } ($alice, $bob, $carol);
my $auth = $t->connstr('authenticator', $auth_pw, tcp => 1, ssl => 1);

sub as_auth {
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql, connstr => $auth, on_error_stop => 0);
	return ($out, $err);
}
sub switch_to {
	my ($who, $role) = @_;
	my $as = defined $role ? ", '$role'" : '';
	return "SELECT dbx_oauth.set_token('$tok{$who}', true$as) \\g /dev/null";
}

# --- the plan ------------------------------------------------------------------------
my ($out, $err) = as_auth(join("\n", 'BEGIN;', switch_to($alice),
	'EXPLAIN (COSTS OFF) SELECT count(*) FROM docs;', 'COMMIT;'));
like($out, qr/InitPlan/, 'the unwrapped policy is planned with an InitPlan');
my @filters = $out =~ /^\s*Filter: (.*)$/mg;
ok(@filters && !grep({ /current_identity/ } @filters),
	'... and its filter compares each row with the InitPlan\'s value, not a call per row')
	or diag($out);
is($err, '', '... without errors');

$out = $node->safe_psql('postgres',
	'EXPLAIN (COSTS OFF) SELECT * FROM docs WHERE owner = dbx_oauth.current_identity()');
like($out, qr/InitPlan/, 'the same for a query that calls it in WHERE');
$out = $node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) SELECT dbx_oauth.current_identity()');
unlike($out, qr/InitPlan/, 'a query without tables keeps the plain call (PL/pgSQL assignments stay simple)');
like($out, qr/current_identity\(\)/, '... which is the call itself');
$out = $node->safe_psql('postgres',
	'EXPLAIN (COSTS OFF) SELECT random() FROM docs WHERE owner = dbx_oauth.current_identity()');
unlike($out, qr/InitPlan/,
	'a query calling a volatile function (set_token is one) keeps a call per row, so a switch between rows shows');

# --- exact across cached plans, shared roles and switches in one transaction ------------
my $rows = 'SELECT coalesce(string_agg(body, \',\' ORDER BY id), \'-\') FROM docs';
($out, $err) = as_auth(join("\n",
	'SET plan_cache_mode = force_generic_plan;',
	"PREPARE q AS $rows;",
	qq{CREATE FUNCTION pg_temp.rows_seen() RETURNS text LANGUAGE plpgsql AS \$\$
	   DECLARE r text; BEGIN $rows INTO r; RETURN r; END \$\$;},
	'BEGIN;', switch_to($alice, 'data-team'), 'EXECUTE q;', 'SELECT pg_temp.rows_seen();', 'COMMIT;',
	'BEGIN;', switch_to($carol, 'data-team'), 'EXECUTE q;', 'SELECT pg_temp.rows_seen();', 'COMMIT;',
	'BEGIN;', switch_to($bob), 'EXECUTE q;', 'SELECT pg_temp.rows_seen();', 'COMMIT;',
	'BEGIN;', switch_to($alice), 'EXECUTE q;', switch_to($carol), 'EXECUTE q;', 'COMMIT;',
	'EXECUTE q;'));
is($out, join("\n", 'a1,a2', 'a1,a2', 'c1', 'c1', 'b1', 'b1', 'a1,a2', 'c1', '-'),
	'one generic plan and one PL/pgSQL plan, executed as alice and carol through the same group role, '
	  . 'then bob, then two switches in one transaction: each execution sees its own identity\'s rows; '
	  . 'none without an identity');
is($err, '', '... without errors');

# --- writes and statements the rewrite leaves alone -----------------------------------
($out, $err) = as_auth(join("\n", 'BEGIN;', switch_to($bob),
	"UPDATE docs SET body = body || '!' RETURNING id;", 'COMMIT;'));
is($out, '2', 'UPDATE under the policy touches only the identity\'s rows');

$out = $node->safe_psql('postgres', q{
	MERGE INTO merged m USING (VALUES (1)) v(x) ON false
	WHEN NOT MATCHED AND dbx_oauth.current_identity() IS NULL THEN INSERT VALUES ('no identity');
	SELECT note FROM merged;});
is($out, 'no identity', 'MERGE with current_identity() in a WHEN condition keeps the plain call and runs');

$out = $node->safe_psql('postgres', q{
	SELECT count(*) FROM docs WHERE owner = dbx_oauth.current_identity()
	UNION ALL SELECT count(*) FROM docs WHERE owner IS DISTINCT FROM dbx_oauth.current_identity()});
is($out, "0\n5", 'no identity: the InitPlan yields NULL, so equality matches no row');

done_testing();
