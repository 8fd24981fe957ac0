# A revocation committed while the revocation loader reloads its
# shared-memory copy is never lost (docs/security-model.md, "Revocation").
# The committing backend applies its change to the copy itself, right after
# the commit became visible; the loader reads the table with a snapshot that
# may predate that commit, so a reload that overlaps it must be thrown away,
# not replace the copy.  The race is forced here instead of waited for:
# session A moves the table's revision and holds a lock on
# dbx_oauth.revocation_state, so the loader's next round (which must reload)
# blocks reading the revision after it took its snapshot; A then revokes and
# commits, and the loader goes on with a snapshot that does not see A's row.
# Before the fix the cutoff was missing from the copy until the next reload
# and the revoked token logged in.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run qw(start pump finish timeout);
use Time::HiRes qw(sleep);
use DbxOAuthNode;

my $alice = 'alice@example.com';
my $t = DbxOAuthNode->create('revocation_race', conf => "log_statement = none\n");
my $node = $t->node;
$node->safe_psql('postgres', qq{SELECT dbx_oauth.create_role('$alice', 'USER')});
sub su { return $node->safe_psql('postgres', $_[0]); }
sub can_login {
	my ($tok) = @_;
	my ($rc) = $node->psql('postgres', 'SELECT 1', connstr => $t->connstr($alice, $tok, tcp => 1, ssl => 1));
	return $rc == 0;
}

ok($node->poll_query_until('postgres', 'SELECT loaded FROM dbx_oauth.revocation_mirror()'),
	'the revocation copy is loaded');
my $old = $t->mint(sub => $alice);
ok(can_login($old), 'alice logs in before the revocation');
sleep(1.1);    # the cutoff below is a later second than the token's iat

# Session A moves the table's revision (as a commit the copy did not see
# does), so the loader's next round reloads, and at once takes the lock that
# round will wait for.
my %a = (in => '', out => '', err => '');
$a{h} = start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', '-' ],
	'<', \$a{in}, '>', \$a{out}, '2>', \$a{err}, timeout(60));
$a{in} .= "UPDATE dbx_oauth.revocation_state SET revision = revision + 1;\n"
  . "BEGIN;\nLOCK TABLE dbx_oauth.revocation_state IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n";
pump $a{h} until $a{out} =~ /^locked$/m || !$a{h}->pumpable;
like($a{out}, qr/^locked$/m, 'session A holds the lock on revocation_state');
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity
	  WHERE backend_type = 'dbx_oauth revocation loader' AND wait_event_type = 'Lock'}),
	'the loader waits for the lock, its snapshot taken');

# A revokes while the loader waits, and commits.
$a{out} = '';
$a{in} .= "SELECT dbx_oauth.revoke_tokens('$alice', now(), 'race');\nCOMMIT;\nSELECT 'committed';\n";
pump $a{h} until $a{out} =~ /^committed$/m || !$a{h}->pumpable;
like($a{out}, qr/^committed$/m, 'session A revoked and committed');
$a{in} .= "\\q\n";
finish $a{h};

# Right after the loader's round (the next one is a second away): the copy
# still holds the cutoff and the old token is refused.
ok($node->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_stat_activity
	  WHERE backend_type = 'dbx_oauth revocation loader' AND state = 'idle'}),
	'the loader finished its round');
is(su('SELECT entries FROM dbx_oauth.revocation_mirror()'), '1',
	'the copy keeps the cutoff committed during the reload');
ok(!can_login($old), 'the revoked token is refused right after the reload');

# And it stays refused once the loader has reloaded again.
sleep(1.5);
ok(!can_login($old), 'the revoked token is still refused a reload later');
ok(can_login($t->mint(sub => $alice)), 'a token issued after the cutoff works');

$node->stop;
done_testing();
