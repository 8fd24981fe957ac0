# OAuth roles never hold SUPERUSER, REPLICATION or BYPASSRLS while the
# library is loaded; why it matters is shown first-hand: with the library
# missing from shared_preload_libraries, a walsender (replication=database)
# never runs the per-role session_preload_libraries guard, so a REPLICATION
# OAuth role gets in on the "+dbx_oauth_users" trust line with no token
# (docs/security-model.md, "Privileged roles").  Also: dbx_oauth_users
# itself given LOGIN is refused on trust lines.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $alice = 'alice@example.com';
my $t = DbxOAuthNode->create('security_replication', conf => "wal_level = logical\nmax_wal_senders = 4");
my $node = $t->node;
$node->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('team', 'GROUP');
	CREATE ROLE repl_admin REPLICATION;
	CREATE ROLE rls_admin BYPASSRLS;
	CREATE ROLE plain_group;
	CREATE ROLE labelled_later REPLICATION;
});

sub attrs {
	my ($role) = @_;
	return $node->safe_psql('postgres',
		"SELECT rolsuper || ',' || rolreplication || ',' || rolbypassrls FROM pg_roles WHERE rolname = '$role'");
}

sub doctor {
	my ($check) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(status, ',') FROM dbx_oauth.doctor() WHERE \"check\" = '$check'");
}

# --- the guards ---------------------------------------------------------------
for my $case (
	[qq{ALTER ROLE "$alice" REPLICATION}, qr/role "\Q$alice\E" cannot be both an OAuth role and REPLICATION/],
	[qq{ALTER ROLE "$alice" SUPERUSER}, qr/cannot be both an OAuth role and SUPERUSER/],
	[qq{ALTER ROLE "$alice" WITH BYPASSRLS}, qr/cannot be both an OAuth role and BYPASSRLS/],
	[q{ALTER ROLE team REPLICATION}, qr/role "team" cannot be both/],
	[q{ALTER ROLE dbx_oauth_users BYPASSRLS}, qr/role "dbx_oauth_users" cannot be both/],
	[q{CREATE ROLE sneaky SUPERUSER IN ROLE dbx_oauth_users}, qr/role "sneaky" cannot be both/],
	[q{CREATE ROLE sneaky2 REPLICATION IN ROLE team}, qr/role "sneaky2" cannot be both/],
	[q{GRANT dbx_oauth_users TO repl_admin}, qr/role "repl_admin" cannot be both/],
	[qq{GRANT "$alice" TO rls_admin}, qr/role "rls_admin" cannot be both/],
	[q{GRANT team TO postgres}, qr/role "postgres" cannot be both an OAuth role and SUPERUSER/],
	[q{GRANT plain_group TO repl_admin; GRANT team TO plain_group}, qr/role "repl_admin" cannot be both/],
	[q{ALTER GROUP dbx_oauth_users ADD USER repl_admin}, qr/role "repl_admin" cannot be both/],
	[q{SECURITY LABEL FOR dbx_oauth ON ROLE labelled_later IS 'USER'}, qr/role "labelled_later" cannot be both/])
{
	my ($sql, $want) = @$case;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nBEGIN; $sql; COMMIT;");
	like($err, qr/ERROR:  42501: .*$want|ERROR:  42501: $want/s, "refused with 42501: $sql") or diag($err);
}
is(attrs($alice), 'false,false,false', 'alice kept no attribute');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname IN ('sneaky', 'sneaky2')}), '0',
	'no role was half-created');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
	WHERE r.rolname IN ('repl_admin', 'rls_admin', 'postgres', 'plain_group')}), '0',
	'no membership was granted');

# Taking attributes away, and ordinary changes, still work.
$node->safe_psql('postgres', qq{
	ALTER ROLE "$alice" NOREPLICATION NOSUPERUSER NOBYPASSRLS CONNECTION LIMIT 5;
	GRANT plain_group TO "$alice";
	CREATE ROLE ordinary IN ROLE dbx_oauth_users;
	DROP ROLE ordinary;
});
pass('NO... attributes, other ALTER ROLE options and unprivileged grants are accepted');

# create_role never makes one: an authenticator_role that is a superuser
# would become an indirect member of dbx_oauth_users.
$node->safe_psql('postgres', q{
	CREATE ROLE super_pool SUPERUSER LOGIN;
	ALTER SYSTEM SET dbx_oauth.authenticator_role = 'super_pool';
	SELECT pg_reload_conf();
});
$node->poll_query_until('postgres', "SELECT current_setting('dbx_oauth.authenticator_role') = 'super_pool'");
my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT dbx_oauth.create_role('bob\@example.com', 'USER')");
like($err, qr/ERROR:  42501: role "super_pool" cannot be both an OAuth role and SUPERUSER/,
	'create_role refuses to grant the new role to a superuser authenticator');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_roles WHERE rolname = 'bob@example.com'}), '0',
	'... and creates nothing');
$node->safe_psql('postgres', q{ALTER SYSTEM RESET dbx_oauth.authenticator_role; SELECT pg_reload_conf();});

is(doctor('role_privileges'), 'ok', 'doctor: role_privileges ok');

# --- with the library missing: the tokenless replication login ----------------
my $repl = $t->connstr($alice, undef, tcp => 1, ssl => 1) . ' replication=database';
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
$node->safe_psql('postgres', qq{ALTER ROLE "$alice" REPLICATION});
is(attrs($alice), 'false,true,false', 'without the library nothing stops ALTER ROLE ... REPLICATION');
($ret, $out, $err) = $node->psql('postgres', 'IDENTIFY_SYSTEM', connstr => $repl);
is($ret, 0, 'residual risk reproduced: without the library a REPLICATION OAuth role opens a walsender with no token')
  or diag($err);

# --- library back: the login hook refuses it, doctor reports it ----------------
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'dbx_oauth'\n");
$node->restart;
is(doctor('role_privileges'), 'error', 'doctor: role_privileges error for the REPLICATION OAuth role');
like($node->safe_psql('postgres', q{SELECT detail FROM dbx_oauth.doctor() WHERE "check" = 'role_privileges'}),
	qr/"\Q$alice\E" \(REPLICATION\)/, '... naming the role and the attribute');
my $tok = $t->mint(sub => $alice);
($ret, $out, $err) = $node->psql('postgres', 'IDENTIFY_SYSTEM', connstr => $repl);
isnt($ret, 0, 'with the library: no walsender without a token');
($ret, $out, $err) = $node->psql('postgres', 'IDENTIFY_SYSTEM',
	connstr => $t->connstr($alice, $tok, tcp => 1, ssl => 1) . ' replication=database');
like($err, qr/password authentication failed for user "\Q$alice\E"/,
	'with the library: a privileged OAuth role is refused even with a valid token');
ok($node->wait_for_log(qr/reason=privileged_role REPLICATION/), '... the log says why');
$node->safe_psql('postgres', 'CREATE ROLE unrelated; DROP ROLE unrelated');
pass('an existing privileged OAuth role does not block unrelated role changes');
$node->safe_psql('postgres', qq{ALTER ROLE "$alice" NOREPLICATION});
is(doctor('role_privileges'), 'ok', 'doctor: ok again after NOREPLICATION');
$node->connect_ok($t->connstr($alice, $t->mint(sub => $alice), tcp => 1, ssl => 1),
	'alice logs in with her token again');

# --- dbx_oauth_users with LOGIN ------------------------------------------------
$node->safe_psql('postgres', 'ALTER ROLE dbx_oauth_users LOGIN');
is(doctor('oauth_users_login'), 'error', 'doctor: dbx_oauth_users with LOGIN is an error');
$node->connect_fails($t->connstr('dbx_oauth_users', undef, tcp => 1, ssl => 1),
	'dbx_oauth_users with LOGIN is refused on the +dbx_oauth_users trust line',
	expected_stderr => qr/password authentication failed for user "dbx_oauth_users"/);
$node->safe_psql('postgres', 'ALTER ROLE dbx_oauth_users NOLOGIN');
is(doctor('oauth_users_login'), 'ok', 'doctor: ok again after NOLOGIN');

$node->stop;
done_testing();
