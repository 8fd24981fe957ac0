# The PostgreSQL 18 OAuth door: hba method oauth with dbx_oauth as the
# validator module (oauth_validator_libraries = 'dbx_oauth').  A real libpq
# 18 client (test/oauth/oauth_hook_client.c) speaks SASL OAUTHBEARER and
# hands over a minted token through PQsetAuthDataHook; the server validates
# it with the keys in shared memory and the identity rules of the password
# door, which keeps working on the same server.  Skipped before 18.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my ($major) = (`pg_config --version` // '') =~ /PostgreSQL (\d+)/;
plan skip_all => 'the OAuth door needs PostgreSQL 18 or later (hba method oauth)'
  if !defined $major || $major < 18;

# The client is built against the libpq of the server under test.
my $srcdir = $DbxOAuthNode::SRCDIR;
my $client = "$srcdir/test/oauth/oauth_hook_client";
system_or_bail('make', '-s', '-C', $srcdir, 'oauth-test-client');

my $iss = $DbxOAuthNode::ISSUER;
# A second trusted issuer (dbx_oauth.issuers) that no oauth line names.
my $other_iss = 'https://adb-2222222222222222.2.azuredatabricks.net/oidc';
my $opts = qq{issuer="$iss" scope="all-apis"};

# Line 1: the validator decides the role (delegate_ident_mapping=1).
# Line 2: the ident map decides.  Line 3: neither (doctor warns); it names
# the issuer by its discovery document.
# The default lines that follow keep the password door (trust) on the unix
# socket and on TCP for other databases.
my $oauth_hba = <<"HBA";
hostssl postgres +dbx_oauth_users 127.0.0.1/32 oauth $opts delegate_ident_mapping=1
hostssl mapped all 127.0.0.1/32 oauth $opts map=dbx
hostssl exact +dbx_oauth_users 127.0.0.1/32 oauth issuer="$iss/.well-known/openid-configuration" scope="all-apis"
HBA
my $t = DbxOAuthNode->create('oauth_door', hba => $oauth_hba, conf => qq{
oauth_validator_libraries = 'dbx_oauth'
dbx_oauth.issuers = '$iss,$other_iss'
});
my $node = $t->node;
my $port = $node->port;

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';
my $sp = '6f1b5c2e-3a4d-4e8f-9b0a-1c2d3e4f5a6b';
$node->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
	SELECT dbx_oauth.create_role('$sp', 'SERVICE_PRINCIPAL');
	SELECT dbx_oauth.create_role('data-team', 'GROUP');
	GRANT "data-team" TO "$alice";
	CREATE ROLE analyst LOGIN;
	CREATE ROLE authenticator LOGIN;
	GRANT "$alice" TO authenticator;
	CREATE DATABASE mapped;
	CREATE DATABASE exact;
	CREATE DATABASE pwdoor;
});
$node->safe_psql($_, 'CREATE EXTENSION dbx_oauth') for qw(mapped exact pwdoor);
$node->append_conf('pg_ident.conf', "dbx $alice analyst\n");
$node->reload;

my @tokens;    # every token used, to prove none reaches the log
sub mint { my $tok = $t->mint(@_); push @tokens, $tok; return $tok; }

# Runs the hook client; returns (exit ok, stdout, stderr).
sub oauth_login
{
	my (%o) = @_;
	my $connstr = "host=127.0.0.1 port=$port dbname=" . ($o{db} // 'postgres')
	  . " user='$o{user}' sslmode=require oauth_issuer=$iss oauth_client_id=dbx-oauth-test";
	local $ENV{OAUTH_TOKEN} = $o{token};
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $client, $connstr, $o{sql} // 'SELECT current_user' ],
		'>', \$out, '2>', \$err);
	chomp $out;
	return ($ok, $out, $err);
}

# Waits a little for the server log (from $offset on) to match.
sub log_matches
{
	my ($re, $offset) = @_;
	for (1 .. 100)
	{
		return 1 if slurp_file($node->logfile, $offset) =~ $re;
		usleep(100_000);
	}
	return 0;
}

sub login_ok
{
	my ($name, %o) = @_;
	my $offset = -s $node->logfile;
	my ($ok, $out, $err) = oauth_login(%o);
	ok($ok, "$name: connected") or diag($err);
	like($out, $o{expect}, "$name: session") if $o{expect};
	like($err, qr/token requested \(scope "all-apis"/, "$name: through OAUTHBEARER");
	ok(log_matches($o{log} // qr/dbx_oauth: token login accepted: [^\n]*door=oauth/, $offset),
		"$name: logged as accepted");
}

sub login_fails
{
	my ($name, $reason, %o) = @_;
	my $offset = -s $node->logfile;
	my ($ok, $out, $err) = oauth_login(%o);
	ok(!$ok, "$name: refused");
	like($err, qr/OAuth bearer authentication failed for user/, "$name: client sees the generic failure");
	ok(log_matches(qr/dbx_oauth: token login rejected: reason=(?:$reason)\b[^\n]*door=oauth/, $offset),
		"$name: reason $reason in the server log")
	  or diag(slurp_file($node->logfile, $offset));
}

# --- accepted through the validator (delegate_ident_mapping=1) -------------
login_ok('user with a good token', user => $alice, token => mint(sub => $alice),
	sql => q{SELECT current_user, dbx_oauth.current_identity(), dbx_oauth.current_identity_type(),
	                system_user, dbx_oauth.claim('client_id'), dbx_oauth.has_scope('all-apis')},
	expect => qr/^\Q$alice|$alice|USER|oauth:$alice|databricks-cli|t\E$/,
	log => qr/dbx_oauth: token login accepted: role="\Q$alice\E" identity="\Q$alice\E" type=USER client=127\.0\.0\.1 token_fingerprint=[0-9a-f]{16} door=oauth/);

login_ok('sessions view', user => $alice, token => mint(sub => $alice),
	sql => 'SELECT role_name, identity, identity_type, auth_method, length(token_fingerprint) FROM dbx_oauth.sessions WHERE pid = pg_backend_pid()',
	expect => qr/^\Q$alice|$alice\E\|USER\|login\|16$/);

login_ok('service principal with an ES256 token', user => $sp,
	token => mint(sub => $sp, scope => 'all-apis', kid => 'login-ec'),
	sql => 'SELECT current_user, dbx_oauth.current_identity_type(), dbx_oauth.is_service_principal()',
	expect => qr/^\Q$sp\E\|SERVICE_PRINCIPAL\|t$/);

login_ok('user identity compared case-insensitively', user => $alice,
	token => mint(sub => 'Alice@Example.com'), expect => qr/^\Q$alice\E$/);

login_ok('group member as the group role', user => 'data-team', token => mint(sub => $alice),
	sql => 'SELECT current_user, dbx_oauth.current_identity(), system_user',
	expect => qr/^data-team\|\Q$alice|oauth:$alice\E$/);

# --- refused, each for its reason ----------------------------------------
login_fails('expired token', 'expired', user => $alice, token => mint(sub => $alice, iat => 1000000000));
login_fails('wrong signature', 'bad_signature', user => $alice,
	token => mint(sub => $alice, tamper => 'signature'));
login_fails('token of another identity', 'identity_mismatch', user => $alice, token => mint(sub => $bob));
login_fails('group non-member', 'not_a_group_member', user => 'data-team', token => mint(sub => $bob));
login_fails('missing scope', 'missing_scope', user => $alice,
	token => mint(sub => $alice, scope => 'offline_access sql'));
login_fails('untrusted issuer', 'untrusted_issuer', user => $alice,
	token => mint(sub => $alice, iss => 'https://evil.example.com/oidc'));
login_fails('SP token for a user role', 'identity_type_mismatch|identity_mismatch', user => $alice,
	token => mint(sub => $sp, scope => 'all-apis'));
login_fails('unlabelled member of dbx_oauth_users', 'not_an_oauth_role', user => 'authenticator',
	token => mint(sub => $alice));
login_fails('garbage token', 'malformed', user => $alice, token => 'not-a-token');

# A trusted issuer is not enough: the token must come from the line's issuer.
my $other_tok = mint(sub => $alice, iss => $other_iss);
login_fails('token of another trusted issuer', 'untrusted_issuer', user => $alice, token => $other_tok);
like(slurp_file($node->logfile), qr/is not the issuer of the pg_hba\.conf line/,
	'the log says the issuer is not the line\'s');
$node->connect_ok($t->connstr($alice, $other_tok), 'the password door accepts that issuer',
	sql => 'SELECT current_user', expected_stdout => qr/^\Q$alice\E$/);

# --- without delegation: the token's identity, then the ident map ----------
login_ok('ident map: identity mapped to a plain role', db => 'mapped', user => 'analyst',
	token => mint(sub => $alice),
	sql => 'SELECT current_user, dbx_oauth.current_identity(), system_user',
	expect => qr/^analyst\|\Q$alice|oauth:$alice\E$/);
login_fails('ident map: identity not mapped', 'ident_map_mismatch', db => 'mapped', user => 'analyst',
	token => mint(sub => $bob));
login_fails('ident map: bad token still refused', 'bad_signature', db => 'mapped', user => 'analyst',
	token => mint(sub => $alice, tamper => 'signature'));
login_ok('no delegation, no map: role named like the identity', db => 'exact', user => $alice,
	token => mint(sub => $alice), expect => qr/^\Q$alice\E$/);
login_fails('no delegation, no map: no group roles', 'ident_map_mismatch', db => 'exact',
	user => 'data-team', token => mint(sub => $alice));

# --- both doors on one server at once ------------------------------------
my $pw_session = $node->background_psql('postgres',
	connstr => $node->connstr('postgres') . " user='$alice' password=" . mint(sub => $alice));
is($pw_session->query_safe('SELECT dbx_oauth.current_identity()'), $alice,
	'password door session (unix socket) is open');
login_ok('OAuth door login while it is open', user => $bob, token => mint(sub => $bob),
	sql => 'SELECT dbx_oauth.current_identity()', expect => qr/^\Q$bob\E$/);
ok($node->poll_query_until('postgres',
	"SELECT string_agg(identity, ',' ORDER BY identity) = '$alice' FROM dbx_oauth.sessions"),
	'the sessions view lists the open session once the OAuth one has ended');
$pw_session->quit;
$node->connect_ok(
	"host=127.0.0.1 port=$port dbname=pwdoor user='$bob' password=" . mint(sub => $bob) . ' sslmode=require',
	'password door over TCP (trust line) on the same server',
	sql => 'SELECT current_user, dbx_oauth.current_identity()', expected_stdout => qr/^\Q$bob|$bob\E$/,
	log_like => [qr/token login accepted: role="\Q$bob\E"[^\n]*token_fingerprint=[0-9a-f]{16}\n/]);

# --- doctor() understands oauth lines ------------------------------------
sub doctor_row
{
	my ($check) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT status || ': ' || detail FROM dbx_oauth.doctor() WHERE "check" = '$check'});
}
like(doctor_row('hba_oauth_validator'), qr/^ok: 3 oauth line/, 'doctor: oauth lines validated by dbx_oauth');
like(doctor_row('hba_oauth_mapping'), qr/^warning: .*line 3\.$/,
	'doctor: a line without delegate_ident_mapping and without a map is a warning');
like(doctor_row('hba_method'), qr/^ok:/, 'doctor: oauth lines are no token-skipping method');

# Another validator for OAuth roles is an error.
my $data = $node->data_dir;
open my $fh, '>', "$data/pg_hba.conf" or die $!;
print $fh "local all all trust\n",
  "hostssl postgres +dbx_oauth_users 127.0.0.1/32 oauth $opts validator=dbx_oauth delegate_ident_mapping=1\n",
  "hostssl other +dbx_oauth_users 127.0.0.1/32 oauth $opts validator=other_validator delegate_ident_mapping=1\n",
  "hostssl exact analyst 127.0.0.1/32 oauth $opts validator=other_validator\n";
close $fh;
$node->append_conf('postgresql.conf', "oauth_validator_libraries = 'dbx_oauth, other_validator'\n");
$node->reload;
$node->poll_query_until('postgres',
	"SELECT current_setting('oauth_validator_libraries') LIKE '%other_validator%'")
  or die 'reload did not take';
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL'), '0',
	'the hba file with two validators parses');
like(doctor_row('hba_oauth_validator'), qr/^error: .*line 3 \(validator other_validator\)\.$/,
	'doctor: an oauth line for OAuth roles with another validator is an error');
unlike(doctor_row('hba_oauth_validator'), qr/line 4/, 'doctor: ... not a line for other roles');
like(doctor_row('hba_oauth_mapping'), qr/^ok:/, 'doctor: delegated lines need no map');
login_ok('the dbx_oauth line still works with two validators', user => $alice,
	token => mint(sub => $alice), expect => qr/^\Q$alice\E$/);

# --- no token text in the server log ---------------------------------------
my $log = $t->server_log;
my $leaks = grep { length($_) > 20 && index($log, $_) >= 0 } @tokens;
is($leaks, 0, 'no token appears in the server log');

# --- fail closed: the validator refuses to load without the preload ---------
$node->adjust_conf('postgresql.conf', 'shared_preload_libraries', "''");
$node->restart;
my ($ok, $out, $err) = oauth_login(user => $alice, token => $t->mint(sub => $alice));
ok(!$ok, 'without shared_preload_libraries the OAuth door admits nobody');
like($err, qr/dbx_oauth must be loaded via shared_preload_libraries/, '... and says why');

done_testing();
