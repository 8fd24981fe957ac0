# Persisted keys: a restart with the issuer down still validates tokens;
# the worker killed with SIGKILL comes back with its keys; a corrupt
# persisted file is ignored with a WARNING, never fatal.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::RealBin/../perl";

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FakeWorkspace;

my $ws = FakeWorkspace->start(dir => PostgreSQL::Test::Utils::tempdir() . '/ws');
my $issuer = $ws->issuer;

my $node = PostgreSQL::Test::Cluster->new('keys_persist');
$node->init;
$node->append_conf('postgresql.conf', $ws->server_conf(
	"dbx_oauth.jwks_refresh_interval = '1h'",
	"dbx_oauth.http_timeout = 2000",
	# The TAP default is off; a killed worker must lead to a crash restart.
	"restart_after_crash = on"));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION dbx_oauth');

ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'discovery'"),
	'keys fetched after start');
my $tok = $ws->mint(sub => 'alice@example.com');

sub valid
{
	return $node->safe_psql('postgres', "SELECT valid FROM dbx_oauth.token_status('$tok')");
}
is(valid(), 't', 'token validates with fetched keys');

my @files = glob($node->data_dir . '/dbx_oauth/*.json');
is(scalar @files, 1, 'keys persisted under $PGDATA/dbx_oauth');
my $file = $files[0];
my $good = slurp_file($file);

# --- restart with the issuer down ---------------------------------------
$node->stop;
$ws->stop;
$node->start;
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'persisted'"),
	'persisted keys loaded at start with the issuer down');
is(valid(), 't', 'token validates while the issuer is down');
ok($node->poll_query_until('postgres',
	"SELECT consecutive_failures > 0 AND last_error LIKE '%failed%' AND source = 'persisted'
	 FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'"),
	'worker_status shows the unreachable issuer and the persisted source');
is(slurp_file($file), $good, 'a failed refresh leaves the persisted file alone');

# --- SIGKILL of the worker ----------------------------------------------
sub worker_pid
{
	my $pm = $node->{_pid};
	for my $line (split /\n/, `ps -o pid=,args= --ppid $pm`)
	{
		return $1 if $line =~ /^\s*(\d+)\s.*dbx_oauth key refresh/;
	}
	return undef;
}
my $old_pid = worker_pid();
ok(defined $old_pid, "worker process found (pid $old_pid)");
kill 'KILL', $old_pid;
# The postmaster treats it as a crash: every process restarts and shared
# memory is rebuilt, so the keys must come back from the persisted file.
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM dbx_oauth.keys WHERE source = 'persisted'"),
	'keys intact after the worker was killed');
my $new_pid = worker_pid();
ok(defined $new_pid && $new_pid != $old_pid, "worker restarted (pid $new_pid)");
is(valid(), 't', 'token validates after the crash restart');
like(slurp_file($node->logfile), qr/dbx_oauth key refresh.*terminated by signal 9/,
	'postmaster logged the killed worker');

# Issuer back: the next refresh replaces the persisted keys.
$ws = FakeWorkspace->start(dir => $ws->dir);
$node->safe_psql('postgres', 'SELECT dbx_oauth.refresh_keys()');
is($node->safe_psql('postgres',
	"SELECT source || ':' || consecutive_failures FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'"),
	'discovery:0', 'issuer reachable again: keys from discovery, failures reset');

# --- a corrupt persisted file is ignored ---------------------------------
$node->stop;
$ws->stop;
open(my $fh, '>', $file) or die "cannot write $file: $!";
print $fh '{"format":1,"issuer":"' . $issuer . '","fetched_at":1,"jwks":{"keys":[{"kty":"RSA"';
close $fh;
my $log_offset = -s $node->logfile;
$node->start;
ok($node->poll_query_until('postgres',
	"SELECT consecutive_failures > 0 FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'"),
	'server and worker run with a corrupt persisted file');
like(substr(slurp_file($node->logfile), $log_offset),
	qr/WARNING:  dbx_oauth: ignoring persisted keys of issuer/,
	'corrupt file reported with a WARNING');
is($node->safe_psql('postgres', "SELECT count(*) FROM dbx_oauth.keys WHERE issuer = '$issuer'"),
	'0', 'no keys from the corrupt file');

# A file for another issuer (copied under this issuer's name) is refused too.
$node->stop;
(my $other = $good) =~ s/"issuer":"[^"]*"/"issuer":"https:\/\/other.example.com\/oidc"/;
open($fh, '>', $file) or die;
print $fh $other;
close $fh;
$log_offset = -s $node->logfile;
$node->start;
ok($node->poll_query_until('postgres',
	"SELECT consecutive_failures > 0 FROM dbx_oauth.worker_status() WHERE issuer = '$issuer'"),
	'worker runs with a persisted file of another issuer');
like(substr(slurp_file($node->logfile), $log_offset), qr/file is for a different issuer/,
	'file of another issuer refused');

$node->stop;
done_testing();
