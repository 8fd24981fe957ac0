# Login cost of revocations: the token-login rate with 10,000 revocations in
# force against none, same server, same tokens, measured with the libpq load
# driver of test/t/072_load.pl.  The login check is one hash lookup in shared
# memory, so the two rates should be equal within the run-to-run swing of
# this shared machine.  The rates are printed, never asserted (timings are
# figures for docs/benchmarks.md, not pass/fail); what is asserted is that
# 10,000 entries change no login outcome.  DBX_BENCH_SECONDS (default 8)
# sets each run's length.
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $seconds = $ENV{DBX_BENCH_SECONDS} // 8;
my $clients = 4;
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $driver = "$tmp/load_driver";
my $incdir = `pg_config --includedir`; chomp $incdir;
my $libdir = `pg_config --libdir`; chomp $libdir;
my ($cc_out, $cc_err) = run_command([ 'cc', '-O2', '-Wall', '-pthread', "-I$incdir",
	"$FindBin::RealBin/072_load_driver.c", "-L$libdir", '-lpq', '-o', $driver ]);
ok(-x $driver, 'load driver built') or BAIL_OUT("cc failed: $cc_err");

my $t = DbxOAuthNode->create('rev_bench', conf => "log_connections = off\nlog_statement = none\nmax_connections = 50\n");
my $node = $t->node;
my @users = map { "bench$_\@example.com" } 1 .. 8;
$node->safe_psql('postgres', join("\n", map { "SELECT dbx_oauth.create_role('$_', 'USER');" } @users));
open(my $fh, '>', "$tmp/tokens.tsv") or die $!;
print $fh "good\t$_\t" . $t->mint(sub => $_) . "\n" for @users;
close $fh;
my $conninfo = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres sslmode=require connect_timeout=60';

sub run_load {
	my ($label) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ $driver, $conninfo, "$tmp/tokens.tsv", $clients, $seconds, 0 ], '>', \$out, '2>', \$err,
		IPC::Run::timeout($seconds + 120));
	my %r = $out =~ /(\w+)=([\d.]+)/g;
	is($r{false_rejects}, 0, "$label: zero false rejects");
	is($r{other_errors}, 0, "$label: no other errors") or diag($err);
	my $rate = ($r{accepted} // 0) / ($r{seconds} || $seconds);
	diag(sprintf('%s: %.1f logins/s (%d logins, %d clients, %s s)', $label, $rate, $r{accepted} // 0, $clients, $r{seconds} // $seconds));
	return $rate;
}

my $none = run_load('no revocations');
# 10,000 revocations of other identities: blocks, cutoffs and tokens (the
# mix bench/run's login figure uses).
$node->safe_psql('postgres', PostgreSQL::Test::Utils::slurp_file("$FindBin::RealBin/../../bench/sql/revocations_10k.sql"));
ok($node->poll_query_until('postgres', 'SELECT entries = 10000 FROM dbx_oauth.revocation_mirror()'),
	'the mirror holds the 10,000 revocations');
my $with = run_load('10,000 revocations');
my $ratio = $none > 0 ? $with / $none : 0;
diag(sprintf('login rate ratio (10,000 revocations / none): %.3f', $ratio));
$node->safe_psql('postgres', q{SELECT dbx_oauth.block_identity('bench1@example.com')});
my ($rc) = $node->psql('postgres', 'SELECT 1', connstr => $t->connstr($users[0], $t->mint(sub => $users[0]), tcp => 1, ssl => 1));
isnt($rc, 0, 'with 10,000 entries present a new block still refuses its identity');

$node->stop;
done_testing();
