# Docs that run: every block of a page that a reader is meant to run is run
# here, in page order, in a sandbox that makes it real (a throwaway cluster on
# a free loopback port, the fake workspace, psql logins with tokens), as the
# unprivileged test user.  Blocks that need root are skipped visibly, with the
# reason the page gives.  The convention is described at the top of
# test/docs/run-blocks.
use strict;
use warnings;
use File::Temp ();
use FindBin;
use Test::More;

my $root = "$FindBin::RealBin/../..";
my $runner = "$root/test/docs/run-blocks";

# page, walk-through name, how many blocks at least must run, and how many
# are skipped (needs root or a real workspace): a change to either number is
# a change to what the page promises, so it must show up here.
my @walks = (
	[ 'docs/quick-start.md', 'quick-start', 22, 5 ],
	[ 'README.md', 'readme-setup', 3, 1 ],
	[ 'README.md', 'readme-quick-start', 0, 1 ],
	# pages whose blocks assume a ready server (test/docs/fixtures/cluster.sh)
	[ 'docs/operator-guide.md', 'cluster', 5, 0 ],
	[ 'docs/identity-sync.md', 'cluster', 1, 0 ],
	[ 'docs/monitoring.md', 'cluster', 5, 2 ],
	[ 'docs/upgrade-and-removal.md', 'cluster', 4, 0 ],
	[ 'docs/troubleshooting.md', 'cluster', 3, 1 ],
	[ 'docs/sql-reference.md', 'cluster', 2, 0 ],
	[ 'docs/volume-policies.md', 'cluster', 3, 0 ],
	[ 'docs/volume-policies.md', 'volumes-rls', 3, 0 ],
	[ 'docs/security-model.md', 'security-model', 0, 1 ],
);

# Pages whose every shell and SQL block is either run, skipped with a
# reason, or declared not runnable (`<!-- test: none (why) -->`).
my @complete = (
	'docs/quick-start.md', 'README.md', 'docs/operator-guide.md', 'docs/identity-sync.md',
	'docs/monitoring.md', 'docs/upgrade-and-removal.md',
	'docs/troubleshooting.md', 'docs/sql-reference.md', 'docs/volume-policies.md',
	'docs/security-model.md');

my ($total_ran, $total_skipped) = (0, 0);
for my $w (@walks) {
	my ($doc, $name, $min_ran, $skips) = @$w;
	my $out = `cd '$root' && '$runner' --timeout 300 '$doc' '$name' 2>&1`;
	my $rc = $? >> 8;
	my ($ran, $skipped, $failed) =
	  $out =~ /^# docs-run \S+ \S+: ran (\d+), skipped (\d+), failed (\d+)$/m;
	if (!defined $ran || $rc != 0 || $failed) {
		diag($out);
	} else {
		note($out);
	}
	ok(defined $ran && $rc == 0 && $failed == 0, "$doc ($name): no marked block fails");
	cmp_ok($ran // 0, '>=', $min_ran, "$doc ($name): at least $min_ran blocks ran");
	is($skipped // -1, $skips, "$doc ($name): $skips blocks skipped, each with its reason");
	diag("skipped: $_") for $out =~ /^ok \d+ - (.*# skip .*)$/mg;
	$total_ran += $ran // 0;
	$total_skipped += $skipped // 0;
	unlike($out, qr/^# stopping leftover pid/m, "$doc ($name): the page stops what it starts")
	  if $name eq 'quick-start';
}
diag("docs blocks: $total_ran ran, $total_skipped skipped");

for my $doc (@complete) {
	my $unmarked = `'$runner' --unmarked '$root/$doc' 2>&1`;
	is($? >> 8, 0, "every shell/SQL block of $doc is marked") or diag($unmarked);
}

# The runner itself: a failing block, a wrong expected output and a block
# that must fail but succeeds are each reported as failures.
my $tmp = File::Temp::tempdir(CLEANUP => 1);
open(my $fh, '>', "$tmp/bad.md") or die;
print $fh <<'MD';
<!-- test: bad -->
```sh
X=1
echo hello
```

<!-- test: bad output -->
```
goodbye
```

<!-- test: bad expect-fail -->
```sh
true
```

<!-- test: bad -->
```sh
false
echo not reached
```

<!-- test: bad skip (a reason) -->
```sh
exit 1
```
MD
close $fh;
my $bad = `'$runner' '$tmp/bad.md' bad 2>&1`;
isnt($? >> 8, 0, 'the runner fails a page with failing blocks');
like($bad, qr/^# docs-run \S+ bad: ran 1, skipped 1, failed 3$/m,
	'wrong output, unexpected success and a failing command each count as a failure')
  or diag($bad);
unlike($bad, qr/^not reached$/m, 'a failing command stops the run');

# A page that fails after starting a server leaves nothing running: the
# runner stops it by the pid in its pid file.
open($fh, '>', "$tmp/leak.md") or die;
print $fh <<MD;
<!-- test: leak -->
```sh
\$SANDBOX_REPO/test/fixtures/workspace start --dir \$DOCS_SANDBOX/ws
cp \$DOCS_SANDBOX/ws/pid $tmp/leak.pid
false
```
MD
close $fh;
my $leak = `'$runner' '$tmp/leak.md' leak 2>&1`;
like($leak, qr/^# docs-run \S+ leak: ran 0, skipped 0, failed 1$/m, 'the failing block is reported')
  or diag($leak);
my $pid = do { local (@ARGV, $/) = ("$tmp/leak.pid"); <> } // '';
chomp $pid;
like($pid, qr/^\d+$/, 'the page started a workspace');
like($leak, qr/^# stopping leftover pid $pid /m, 'the runner stops it by its pid');
ok(!kill(0, $pid), 'and it is gone') if $pid =~ /^\d+$/;

done_testing();
