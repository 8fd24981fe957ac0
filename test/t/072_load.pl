# Bounded load test: CLIENTS concurrent libpq clients log in
# and out over loopback TCP with SSL for SECONDS, 10% of the logins with bad
# tokens.  Expected: zero false accepts, zero false rejects, every accepted
# session sees its own identity, no session slot leaked (the sessions view
# returns to empty), the server's own counters agree with the clients', and
# long-lived server processes (postmaster, key worker) keep a flat memory.
#
# Sized by the environment; the default is the CI quick form:
#   DBX_LOAD_CLIENTS (20), DBX_LOAD_SECONDS (10), DBX_LOAD_BAD_PERCENT (10),
#   DBX_LOAD_USERS (10).
# The full form of the issue: DBX_LOAD_CLIENTS=200 DBX_LOAD_SECONDS=60.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use DbxOAuthNode;

my $clients = $ENV{DBX_LOAD_CLIENTS} // 20;
my $seconds = $ENV{DBX_LOAD_SECONDS} // 10;
my $bad_percent = $ENV{DBX_LOAD_BAD_PERCENT} // 10;
my $n_users = $ENV{DBX_LOAD_USERS} // 10;
die "DBX_LOAD_CLIENTS must be 1..1000" unless $clients =~ /^\d+$/ && $clients >= 1 && $clients <= 1000;
die "DBX_LOAD_SECONDS must be 1..600" unless $seconds =~ /^\d+$/ && $seconds >= 1 && $seconds <= 600;
note("load: $clients clients, $seconds s, $bad_percent% bad tokens, $n_users users");

# --- the driver (C, libpq, one thread per client) ---------------------------
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $driver = "$tmp/load_driver";
my $incdir = `pg_config --includedir`;
chomp $incdir;
my $libdir = `pg_config --libdir`;
chomp $libdir;
my ($cc_out, $cc_err) = run_command([ 'cc', '-O2', '-Wall', '-pthread', "-I$incdir",
	"$FindBin::RealBin/072_load_driver.c", "-L$libdir", '-lpq', '-o', $driver ]);
ok(-x $driver, 'load driver built') or BAIL_OUT("cc failed: $cc_err");

# --- the server ---------------------------------------------------------------
# Connections for every client plus headroom, so neither max_connections nor
# idle-session eviction (90% of it by default) interferes with the count.
my $max_conn = 2 * $clients + 20;
my $t = DbxOAuthNode->create('load', conf => join("\n",
	"max_connections = $max_conn",
	"log_connections = off",
	"log_disconnections = off",
	"log_statement = none",
	"shared_buffers = 32MB",
	""));
my $node = $t->node;

my @users = map { sprintf('load-user-%02d@example.com', $_) } 1 .. $n_users;
$node->safe_psql('postgres', join(";\n", map { "SELECT dbx_oauth.create_role('$_', 'USER')" } @users));

# Good tokens, one per user; bad ones: another user's token, a corrupted
# signature, a truncated token, and minted ones (expired, alg none, unknown
# kid, untrusted issuer, exp missing).
my (@good, @bad);
my %token_of;
for my $u (@users) {
	my $tok = $t->mint(sub => $u);
	$token_of{$u} = $tok;
	push @good, [ $u, $tok ];
}
for my $i (0 .. $#users) {
	my $u = $users[$i];
	my $tok = $token_of{$u};
	push @bad, [ $u, $token_of{ $users[ ($i + 1) % @users ] } ] if @users > 1;
	my ($h, $p, $s) = split /\./, $tok;
	my $mid = int(length($s) / 2);
	my $c = substr($s, $mid, 1);
	substr($s, $mid, 1) = $c eq 'A' ? 'B' : 'A';
	push @bad, [ $u, "$h.$p.$s" ];
	push @bad, [ $u, substr($tok, 0, length($tok) - 12) ];
}
my $u0 = $users[0];
push @bad, [ $u0, $t->mint(sub => $u0, iat => time() - 7200) ];
push @bad, [ $u0, $t->mint(sub => $u0, alg_none => undef) ];
push @bad, [ $u0, $t->mint(sub => $u0, header => 'kid="no-such-key"') ];
push @bad, [ $u0, $t->mint(sub => $u0, iss => 'https://evil.example.com/oidc') ];
push @bad, [ $u0, $t->mint(sub => $u0, drop_claim => 'exp') ];

# Every bad token is refused and every good one accepted before the load,
# so a miscount under load cannot come from the corpus itself.
my %role_of_token = map { $token_of{$_} => $_ } @users;
my $prechecked = 0;
for my $b (@bad) {
	my ($role, $tok) = @$b;
	if (exists $role_of_token{$tok}) {
		$prechecked++ if $role_of_token{$tok} ne $role;    # valid token, wrong role
	} else {
		$prechecked++ if $node->safe_psql('postgres', "SELECT valid FROM dbx_oauth.token_status('$tok')") eq 'f';
	}
}
is($prechecked, scalar @bad, scalar(@bad) . ' bad tokens (or other users\' tokens) checked');

my $tokens_file = "$tmp/tokens.tsv";
open(my $fh, '>', $tokens_file) or die $!;
print $fh "good\t$_->[0]\t$_->[1]\n" for @good;
print $fh "bad\t$_->[0]\t$_->[1]\n" for @bad;
close $fh;

# --- memory of the long-lived server processes ------------------------------
# Private anonymous memory (RssAnon): what a leak grows.  Shared memory
# (RssShmem) is fixed at start and excluded, since first touches of shared
# pages would otherwise look like growth.
sub rss_kb {
	my ($pid) = @_;
	open(my $s, '<', "/proc/$pid/status") or return 0;
	while (my $line = <$s>) { return $1 if $line =~ /^RssAnon:\s+(\d+)/ }
	return 0;
}
my $postmaster = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
# The key worker and the other background processes are the postmaster's
# children that are not client backends.
sub server_children {
	my @pids;
	for my $stat (glob('/proc/[0-9]*/stat')) {
		open(my $s, '<', $stat) or next;
		my $line = <$s>;
		close $s;
		next unless defined $line && $line =~ /^(\d+) \((.*)\) \S+ (\d+)/;
		push @pids, $1 if $3 == $postmaster;
	}
	return @pids;
}
sub cmdline { my $c = eval { slurp_file("/proc/$_[0]/cmdline") } // ''; $c =~ tr/\0/ /; return $c }
# The processes that live as long as the server (checkpointer, key worker,
# ...) are measured.  Processes that exit by design are left out by their
# type, as pg_stat_activity reports it and as their process title names it
# (a worker without a database connection, like the key worker, is not in
# pg_stat_activity): client backends (a psql of this script may still be
# exiting), the one-shot "dbx_oauth startup check" worker (BGW_NEVER_RESTART:
# it runs doctor() once after startup and exits), autovacuum and parallel
# workers.
my @one_shot_types = ('client backend', 'dbx_oauth startup check', 'autovacuum worker', 'parallel worker', 'walsender');
my %one_shot_pid = map { $_ => 1 } split /\n/, $node->safe_psql('postgres',
	'SELECT pid FROM pg_stat_activity WHERE backend_type IN ('
	  . join(', ', map { "'$_'" } @one_shot_types) . ')');
my $one_shot_title = qr/dbx_oauth startup check|autovacuum worker|parallel worker/;
my @long_lived = grep { !$one_shot_pid{$_} && cmdline($_) !~ $one_shot_title } server_children();
ok(scalar(grep { cmdline($_) =~ /dbx_oauth/ } @long_lived) >= 1, 'the dbx_oauth worker is among the measured processes')
  or diag(join "\n", map { cmdline($_) } @long_lived);
my %rss_before = map { $_ => rss_kb($_) } ($postmaster, @long_lived);
my $stats_before = $node->safe_psql('postgres',
	"SELECT string_agg(counter || '=' || value, ' ' ORDER BY counter) FROM dbx_oauth.stats() WHERE counter LIKE 'logins_%'");
my %before = map { split /=/ } split / /, $stats_before;

# --- the run -------------------------------------------------------------------
my $conninfo = 'host=127.0.0.1 port=' . $node->port . ' dbname=postgres sslmode=require connect_timeout=60';
my ($out, $err) = ('', '');
my @samples;
my $t0 = Time::HiRes::time();
my $h = IPC::Run::start([ $driver, $conninfo, $tokens_file, $clients, $seconds, $bad_percent ],
	'>', \$out, '2>', \$err, IPC::Run::timeout($seconds + 180));
# Sample the long-lived processes' memory while the load runs.
while ($h->pumpable && Time::HiRes::time() - $t0 < $seconds + 170) {
	sleep 1;
	$h->pump_nb;
	my $total = 0;
	$total += rss_kb($_) for ($postmaster, @long_lived);
	push @samples, $total;
}
$h->finish;
my $elapsed = Time::HiRes::time() - $t0;
note("driver: $out");
diag("driver messages:\n$err") if $err ne '';

my %r = $out =~ /(\w+)=([\d.]+)/g;
cmp_ok($elapsed, '<', $seconds + 120, sprintf('the run stopped by itself after %.0f s', $elapsed));
is($r{started}, $clients, "all $clients clients started");
cmp_ok($r{attempts} // 0, '>=', $clients, "logins attempted: " . ($r{attempts} // 0));
cmp_ok($r{accepted} // 0, '>', 0, 'good tokens were accepted');
cmp_ok($r{rejected} // 0, '>', 0, 'bad tokens were rejected') if $bad_percent > 0;
is($r{false_accepts}, 0, 'zero false accepts');
is($r{false_rejects}, 0, 'zero false rejects');
is($r{identity_errors}, 0, 'every session saw its own identity');
is($r{other_errors}, 0, 'no other connection errors');

# --- afterwards: no leaked slots, counters agree, memory flat ----------------
ok($node->poll_query_until('postgres', 'SELECT count(*) = 0 FROM dbx_oauth.sessions'),
	'the sessions view returns to empty');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"),
	'0', 'no client backend left');
my $stats_after = $node->safe_psql('postgres',
	"SELECT string_agg(counter || '=' || value, ' ' ORDER BY counter) FROM dbx_oauth.stats() WHERE counter LIKE 'logins_%'");
my %after = map { split /=/ } split / /, $stats_after;
is($after{logins_accepted} - $before{logins_accepted}, $r{accepted}, 'server counted the same accepted logins');
is($after{logins_rejected} - $before{logins_rejected}, $r{rejected}, 'server counted the same rejected logins');

my @gone = grep { !-e "/proc/$_" } ($postmaster, @long_lived);
is(scalar @gone, 0, 'no long-lived server process exited or restarted');
my %rss_after = map { $_ => rss_kb($_) } ($postmaster, @long_lived);
my ($sum_before, $sum_after) = (0, 0);
for my $pid (keys %rss_before) {
	$sum_before += $rss_before{$pid};
	$sum_after += $rss_after{$pid};
	note(sprintf('rss %-50s %6d kB -> %6d kB', cmdline($pid), $rss_before{$pid}, $rss_after{$pid}));
}
my ($min, $max) = (sort { $a <=> $b } @samples)[ 0, -1 ];
note(sprintf('long-lived server processes: %d kB before, %d kB after, samples %d..%d kB', $sum_before, $sum_after, $min // 0, $max // 0));
# Shared memory pages touched for the first time count as RSS growth, so
# allow a few MB; a per-login leak of even 1 kB would exceed it at full load.
cmp_ok($sum_after - $sum_before, '<', 8 * 1024,
	sprintf('long-lived server processes kept flat memory (%+d kB over %d logins)', $sum_after - $sum_before, $r{attempts} // 0));
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server still answers');
unlike($t->server_log, qr/terminated by signal|PANIC/, 'no process crashed');

# One summary line for docs/security-model.md.
diag(sprintf('LOAD RESULT clients=%d seconds=%d attempts=%d accepted=%d rejected=%d false_accepts=%d false_rejects=%d '
	. 'logins_per_s=%s p50_ms=%s p99_ms=%s max_ms=%s long_lived_rss_kb=%d->%d',
	$clients, $seconds, map({ $_ // -1 } @r{qw(attempts accepted rejected false_accepts false_rejects)}),
	map({ $_ // '?' } @r{qw(logins_per_s p50_ms p99_ms max_ms)}), $sum_before, $sum_after));

$node->stop;
done_testing();
