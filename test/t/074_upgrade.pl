# Upgrades: for dbx_oauth and databricks_auth, every version
# the server can install (pg_available_extension_versions: every
# <ext>--<version>.sql and whatever upgrade scripts reach) is created in a
# fresh database with data in its tables, then ALTER EXTENSION ... UPDATE
# brings it to the default version.  The result must equal a fresh install
# of the default version object by object (pg_describe_object of every
# member, with each function's, view's, table's and type's definition,
# privileges and comments), the data must survive, and token logins must
# work afterwards.  A new version only needs its upgrade script: this test
# picks it up by itself.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $t = DbxOAuthNode->create('upgrade', conf => "log_statement = none\n");
my $node = $t->node;

# Everything that makes up an installed extension, one line per fact, sorted.
my $describe = q{
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = :'ext'),
members AS (
    SELECT d.classid, d.objid, d.objsubid, pg_describe_object(d.classid, d.objid, d.objsubid) AS name
    FROM pg_depend d, ext WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
facts AS (
    SELECT 'member ' || name AS fact FROM members
    UNION ALL
    SELECT 'function ' || m.name || ' acl ' || coalesce(p.proacl::text, '-')
           || ' owner_is_super ' || r.rolsuper::text || E'\n' || pg_get_functiondef(p.oid)
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    JOIN pg_roles r ON r.oid = p.proowner
    WHERE p.prokind <> 'a'
    UNION ALL
    SELECT 'relation ' || m.name || ' kind ' || c.relkind::text || ' acl ' || coalesce(c.relacl::text, '-')
           || ' rls ' || c.relrowsecurity::text || coalesce(E'\n' || pg_get_viewdef(c.oid), '')
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    SELECT 'column ' || c.oid::regclass::text || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
           || ' acl ' || coalesce(a.attacl::text, '-')
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    SELECT 'constraint ' || co.conrelid::regclass::text || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
    FROM members m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM members m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(tg.oid)
    FROM members m JOIN pg_trigger tg ON m.classid = 'pg_class'::regclass AND tg.tgrelid = m.objid AND NOT tg.tgisinternal
    UNION ALL
    SELECT 'policy ' || po.polrelid::regclass::text || ' ' || po.polname || ' ' || coalesce(pg_get_expr(po.polqual, po.polrelid), '')
    FROM members m JOIN pg_policy po ON m.classid = 'pg_class'::regclass AND po.polrelid = m.objid
    UNION ALL
    SELECT 'enum ' || m.name || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
    FROM members m JOIN pg_enum e ON m.classid = 'pg_type'::regclass AND e.enumtypid = m.objid GROUP BY m.name
    UNION ALL
    SELECT 'type ' || m.name || ' acl ' || coalesce(ty.typacl::text, '-')
    FROM members m JOIN pg_type ty ON m.classid = 'pg_type'::regclass AND ty.oid = m.objid
    UNION ALL
    SELECT 'schema ' || m.name || ' acl ' || coalesce(n.nspacl::text, '-')
    FROM members m JOIN pg_namespace n ON m.classid = 'pg_namespace'::regclass AND n.oid = m.objid
    UNION ALL
    SELECT 'comment ' || m.name || ': ' || de.description
    FROM members m JOIN pg_description de ON de.classoid = m.classid AND de.objoid = m.objid AND de.objsubid = m.objsubid
    UNION ALL
    SELECT 'config table ' || cfg::regclass::text
    FROM pg_extension e, unnest(e.extconfig) cfg WHERE e.extname = :'ext'
    UNION ALL
    SELECT 'version ' || extversion || ' schema ' || extnamespace::regnamespace::text || ' relocatable ' || extrelocatable::text
    FROM pg_extension WHERE extname = :'ext')
SELECT string_agg(fact, E'\n' ORDER BY fact) FROM facts;
};

sub describe_ext {
	my ($db, $ext) = @_;
	my $out = $node->safe_psql($db, $describe, extra_params => [ '-v', "ext=$ext" ]);
	# Object ids differ between databases; definitions never name oids, but
	# drop any that an ACL or expression might print.
	$out =~ s/\b\d{5,}\b/<oid>/g;
	return $out;
}

my %default = map { split /\|/ } split /\n/, $node->safe_psql('postgres',
	"SELECT name, default_version FROM pg_available_extensions WHERE name IN ('dbx_oauth', 'databricks_auth')");
is(scalar keys %default, 2, 'both extensions are available');

# The reference: a fresh install of the default versions.
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION databricks_auth CASCADE');
my %reference = map { $_ => describe_ext('fresh', $_) } qw(dbx_oauth databricks_auth);
like($reference{dbx_oauth}, qr/^member function dbx_oauth\.validate_token\(text\)$/m, 'reference lists dbx_oauth functions');
like($reference{dbx_oauth}, qr/^member table dbx_oauth\.volumes$/m, 'reference lists dbx_oauth tables');
like($reference{databricks_auth}, qr/^member function (?:\w+\.)?databricks_create_role\(text,text\)$/m,
	'reference lists databricks_auth functions');

my $db_n = 0;
for my $ext (qw(dbx_oauth databricks_auth)) {
	my @versions = split /\n/, $node->safe_psql('postgres',
		"SELECT version FROM pg_available_extension_versions WHERE name = '$ext' ORDER BY version");
	ok(scalar @versions >= 1, "$ext: installable versions: @versions");
	# The released 0.1 must stay installable, or this loop would quietly
	# compare the default version with itself.
	ok((grep { $_ eq '0.1' } @versions), "$ext: the released 0.1 is among the installable versions");
	ok($ext ne 'dbx_oauth' || (grep { $_ ne $default{$ext} } @versions),
		"$ext: at least one version older than $default{$ext} is tested");
	for my $v (@versions) {
		my $db = 'upgrade_' . ++$db_n;
		$node->safe_psql('postgres', "CREATE DATABASE $db");
		if ($ext eq 'databricks_auth') {
			$node->safe_psql($db, "CREATE EXTENSION dbx_oauth; CREATE EXTENSION databricks_auth VERSION '$v'");
		} else {
			$node->safe_psql($db, "CREATE EXTENSION dbx_oauth VERSION '$v'");
		}
		# Data in the configuration tables, to survive the update.
		$node->safe_psql($db, q{
			INSERT INTO dbx_oauth.volumes (volume_key, volume_path, policy)
			VALUES ('uploads', '/Volumes/main/app/uploads', '{"publicRead":true}')});
		my $path = $node->safe_psql('postgres',
			"SELECT coalesce(path, 'none') FROM pg_extension_update_paths('$ext')
			 WHERE source = '$v' AND target = '$default{$ext}'");
		ok($v eq $default{$ext} || $path ne 'none', "$ext $v: an update path to $default{$ext} exists ($path)");

		my ($rc, $out, $err) = $node->psql($db, "ALTER EXTENSION $ext UPDATE");
		is($rc, 0, "$ext $v: ALTER EXTENSION $ext UPDATE succeeds") or diag($err);
		is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = '$ext'"),
			$default{$ext}, "$ext $v: now at $default{$ext}");
		my $got = describe_ext($db, $ext);
		ok($got eq $reference{$ext}, "$ext $v -> $default{$ext}: objects equal a fresh install")
		  or diag(diff_lines($reference{$ext}, $got));
		is($node->safe_psql($db, q{SELECT policy::text FROM dbx_oauth.volumes WHERE volume_key = 'uploads'}),
			'{"publicRead": true}', "$ext $v: configuration rows survive the update");
	}
}

# The comparison can fail: an object changed by hand is noticed.
$node->safe_psql('upgrade_1', q{COMMENT ON FUNCTION dbx_oauth.token_status(text) IS 'changed'});
isnt(describe_ext('upgrade_1', 'dbx_oauth'), $reference{dbx_oauth}, 'a changed comment is detected');
$node->safe_psql('upgrade_1', q{GRANT EXECUTE ON FUNCTION dbx_oauth.refresh_keys() TO PUBLIC});
like(diff_lines($reference{dbx_oauth}, describe_ext('upgrade_1', 'dbx_oauth')), qr/refresh_keys/,
	'a changed privilege is detected');

# Logins work in an updated database (roles are cluster-wide; the helpers
# are the updated database's).
$node->safe_psql('upgrade_1', q{SELECT dbx_oauth.create_role('alice@example.com', 'USER')});
my $tok = $t->mint(sub => 'alice@example.com');
$node->connect_ok("user='alice\@example.com' dbname=upgrade_1 password='$tok'", 'token login into the updated database',
	sql => 'SELECT dbx_oauth.current_identity()', expected_stdout => qr/^alice\@example\.com$/);

# The 0.1 -> 0.2 update on a live server with OAuth sessions open: the
# sessions keep working through it and afterwards, and the new functions work.
$node->safe_psql('postgres', 'CREATE DATABASE live');
$node->safe_psql('live', q{CREATE EXTENSION dbx_oauth VERSION '0.1'});
{
	use IPC::Run qw(start pump finish timeout);
	my $tok_live = $t->mint(sub => 'alice@example.com');
	my %s = (in => '', out => '', err => '');
	my $cs = "user='alice\@example.com' dbname=live password='$tok_live' host=127.0.0.1 port=" . $node->port . ' sslmode=require';
	$s{h} = start([ 'psql', '-XAtq', '-d', $cs, '-f', '-' ], '<', \$s{in}, '>', \$s{out}, '2>', \$s{err}, timeout(60));
	$s{in} .= "SELECT 'before ' || dbx_oauth.current_identity();\n";
	pump $s{h} until $s{out} =~ /^before / || !$s{h}->pumpable;
	like($s{out}, qr/^before alice\@example\.com$/m, 'an OAuth session is open on 0.1');
	my ($rc, $out, $err) = $node->psql('live', 'ALTER EXTENSION dbx_oauth UPDATE');
	is($rc, 0, 'ALTER EXTENSION dbx_oauth UPDATE succeeds with the OAuth session open') or diag($err);
	is($node->safe_psql('live', q{SELECT extversion FROM pg_extension WHERE extname = 'dbx_oauth'}),
		$default{dbx_oauth}, "the live database is at $default{dbx_oauth}");
	$s{out} = '';
	$s{in} .= "SELECT 'after ' || dbx_oauth.current_identity() || ' ' || (SELECT count(*) FROM dbx_oauth.sessions);\n";
	pump $s{h} until $s{out} =~ /^after / || !$s{h}->pumpable;
	like($s{out}, qr/^after alice\@example\.com \d+$/m, 'the open session keeps its identity after the update');
	$s{in} .= "\\q\n";
	eval { finish $s{h} };
	is($node->safe_psql('live', q{SELECT count(*) FROM dbx_oauth.revocations}), '0',
		'the new revocation objects work after the update');
	$node->connect_ok("user='alice\@example.com' dbname=live password='" . $t->mint(sub => 'alice@example.com') . "'",
		'a new token login works after the live update');
}

# Every C symbol a shipped install or upgrade script names must be exported
# by the library: a renamed symbol would break CREATE or ALTER EXTENSION of
# a version users still run.
{
	my $sharedir = `pg_config --sharedir`; chomp $sharedir;
	my $libdir = `pg_config --pkglibdir`; chomp $libdir;
	my @scripts = (glob("$sharedir/extension/dbx_oauth--*.sql"), glob("$sharedir/extension/databricks_auth--*.sql"));
	ok((grep { m{/dbx_oauth--0\.1\.sql$} } @scripts) && (grep { m{/dbx_oauth--0\.1--0\.2\.sql$} } @scripts),
		'the released 0.1 script and the 0.1 -> 0.2 upgrade script are shipped');
	my %named;
	for my $f (@scripts) {
		my $sql = PostgreSQL::Test::Utils::slurp_file($f);
		$named{$1} = $f while $sql =~ /AS\s+'MODULE_PATHNAME'\s*,\s*'(\w+)'/g;
	}
	ok(scalar(keys %named) > 20, scalar(keys %named) . ' C symbols named by ' . scalar(@scripts) . ' shipped scripts');
	my %exported = map { (split ' ')[-1] => 1 } grep { /\s[TW]\s/ } split /\n/, `nm -D --defined-only $libdir/dbx_oauth.so`;
	my @missing = grep { !$exported{$_} } sort keys %named;
	is("@missing", '', 'every C symbol named by a shipped script is exported by dbx_oauth.so');
	ok($exported{dbx_oauth_revoke_tokens} && !$exported{dbx_oauth_no_such_symbol}, 'the symbol check can tell present from absent');
}

sub diff_lines {
	my ($want, $got) = @_;
	my %w = map { $_ => 1 } split /\n/, $want;
	my %g = map { $_ => 1 } split /\n/, $got;
	my @out = ((map { "- $_" } grep { !$g{$_} } sort keys %w), (map { "+ $_" } grep { !$w{$_} } sort keys %g));
	splice(@out, 40) if @out > 40;
	return join("\n", @out);
}

$node->stop;
done_testing();
