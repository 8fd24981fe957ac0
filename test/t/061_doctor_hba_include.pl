# doctor() on a pg_hba.conf that includes other files (PostgreSQL 16+):
# line numbers repeat across files, so "which line matches first" must
# follow the rule order PostgreSQL uses (rule_number), and findings must
# name the file of an included line.  Two included files whose line numbers
# collide, arranged both ways: a reject that really comes first hides a
# trust line with a smaller line number, and a trust line that really comes
# first is not hidden by a later reject with a smaller line number.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $probe = PostgreSQL::Test::Cluster->new('probe');
plan skip_all => 'pg_hba.conf has no include directive before PostgreSQL 16'
  if $probe->pg_version < 16;

# require_ssl off: a trust line for OAuth roles from another host without
# SSL is then an error (hba_trust_remote), the finding this test moves.
my $t = DbxOAuthNode->create('hba_include', conf => "dbx_oauth.require_ssl = off\n");
my $node = $t->node;
my $data = $node->data_dir;
$node->safe_psql('postgres', q{SELECT dbx_oauth.create_role('alice@example.com', 'USER')});

sub write_file
{
	my ($name, @lines) = @_;
	open my $fh, '>', "$data/$name" or die $!;
	print $fh map { "$_\n" } @lines;
	close $fh;
	return;
}

# pg_hba_file_rules reads the files on disk: no reload needed.
sub set_hba
{
	my ($a, $b) = @_;
	write_file('pg_hba.conf', 'local all all trust', 'include hba_a.conf', 'include hba_b.conf');
	write_file('hba_a.conf', @$a);
	write_file('hba_b.conf', @$b);
	return;
}

sub finding
{
	my ($check) = @_;
	return $node->safe_psql('postgres',
		"SELECT status || ': ' || detail FROM dbx_oauth.doctor() WHERE \"check\" = '$check'");
}

my $remote_trust = 'host all +dbx_oauth_users 10.0.0.0/8 trust';
my $reject_all = 'host all all 0.0.0.0/0 reject';

# A's reject (line 2, rule 2) comes before B's trust line (line 1, rule 3).
set_hba(['# first file', $reject_all], [$remote_trust]);
is($node->safe_psql('postgres',
	q{SELECT string_agg(line_number || ':' || auth_method, ',' ORDER BY rule_number) FROM pg_hba_file_rules WHERE auth_method <> 'trust' OR address IS NOT NULL}),
	'2:reject,1:trust', 'included lines: line numbers collide and disagree with the rule order');
like(finding('hba_trust_remote'), qr/^ok: /,
	'a trust line after an earlier reject-all in another file is not reported');

# A's trust line (line 3, rule 2) comes before B's reject (line 1, rule 3).
set_hba(['# first file', '# still the first file', $remote_trust], [$reject_all]);
like(finding('hba_trust_remote'), qr/^error: .*line 3 of \Q$data\E\/hba_a\.conf \(host 10\.0\.0\.0\)/,
	'a trust line before a reject-all in another file is reported, named by its file');
like(finding('hba_file'), qr/^ok: /, 'no parse errors');

# An error in an included file names that file; main-file lines keep "line N".
set_hba(['# first file', 'host all'], [$reject_all]);
like(finding('hba_file'), qr/^warning: .*errors on line 2 of \Q$data\E\/hba_a\.conf/,
	'an error in an included file is reported with its file name');
write_file('pg_hba.conf', 'local all all trust', 'host all +dbx_oauth_users 10.0.0.0/8 trust');
like(finding('hba_trust_remote'), qr/^error: .*: line 2 \(host 10\.0\.0\.0\)\.$/,
	'lines of pg_hba.conf itself are named "line N"');

done_testing();
