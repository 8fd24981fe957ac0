# Revocation on a hot standby: revocations made on the primary replicate
# (they are table rows) and the standby's revocation loader brings them into
# its shared memory within a few seconds (measured); the standby keeps them
# across its own restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use DbxOAuthNode;

my $alice = 'alice@example.com';
my $bob = 'bob@example.com';
my $t = DbxOAuthNode->create('rev_primary',
	hba => "local replication all trust\n",
	conf => "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nlog_statement = none\n");
my $primary = $t->node;
$primary->safe_psql('postgres', qq{
	SELECT dbx_oauth.create_role('$alice', 'USER');
	SELECT dbx_oauth.create_role('$bob', 'USER');
});
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('rev_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
chmod 0600, $standby->data_dir . '/server.key';
$standby->start;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');

sub standby_login_ok {
	my ($user, $tok) = @_;
	my ($rc) = $standby->psql('postgres', 'SELECT 1',
		connstr => "user='$user' dbname=postgres password='$tok' host=127.0.0.1 port=" . $standby->port . ' sslmode=require');
	return $rc == 0;
}

my $tok_alice = $t->mint(sub => $alice);
my $tok_bob = $t->mint(sub => $bob);
ok($standby->poll_query_until('postgres', 'SELECT loaded FROM dbx_oauth.revocation_mirror()'),
	'the standby loaded its revocation copy');
ok(standby_login_ok($alice, $tok_alice), 'alice logs in on the standby');

# Revoke on the primary; measure until the standby refuses.
my $t0 = time();
$primary->safe_psql('postgres', qq{SELECT dbx_oauth.block_identity('$alice', 'standby test'); SELECT dbx_oauth.revoke_token('$tok_bob')});
my $refused = 0;
while (time() - $t0 < 15) {
	if (!standby_login_ok($alice, $tok_alice)) { $refused = 1; last; }
	sleep(0.1);
}
my $delay = time() - $t0;
ok($refused, 'a block made on the primary refuses the login on the standby');
# The loader rereads the table once a second after replay; the bound leaves
# room for a loaded machine, the measured delay is printed below.
ok($delay < 10, sprintf('within a few seconds, allowing for load (measured %.2f s)', $delay));
diag(sprintf('standby refused the blocked identity %.2f s after the primary committed', $delay));
ok(!standby_login_ok($bob, $tok_bob), 'a token revoked on the primary is refused on the standby');
ok(standby_login_ok($bob, $t->mint(sub => $bob)), "bob's other tokens still work on the standby");
like(slurp_file($standby->logfile), qr/reason=revoked identity_blocked role="\Q$alice\E"/, 'the standby logs reason=revoked');

# The standby's own restart: its copy is reloaded from the replicated table.
$standby->restart;
ok(!standby_login_ok($alice, $tok_alice), 'after the standby restarts the block still holds');
ok(!standby_login_ok($bob, $tok_bob), 'and so does the token revocation');

# Unblocking on the primary reaches the standby too.
$primary->safe_psql('postgres', qq{SELECT dbx_oauth.unblock_identity('$alice')});
ok($standby->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM dbx_oauth.revocations WHERE kind = 'identity-block'}), 'the unblock replicated');
my $back = 0;
for (1 .. 50) { if (standby_login_ok($alice, $tok_alice)) { $back = 1; last; } sleep(0.1); }
ok($back, 'after unblock on the primary, alice logs in on the standby again');

$standby->stop;
$primary->stop;
done_testing();
