# Checks of the `seen` table the pooled-transaction tests (031, 037) fill:
# each transaction records (expected, usr, identity, n, all_mine, pid), what
# it was meant to be, the role and identity it ran with, how many rows RLS
# let it see and whether they were all its own.
package PooledSeen;
use strict;
use warnings;
use Test::More;

# Every transaction of each user in @$users ran as that user, with that
# identity, and saw exactly $rows->{user} rows, all its own; every one
# recorded as '-' (no switch) ran as the authenticator, with no identity and
# no rows.  $what names the transactions in the test names.
sub each_user_saw_only_own_rows {
	my ($node, $users, $rows, $what) = @_;
	for my $u (@$users) {
		is($node->safe_psql('postgres', qq{
			SELECT count(*) > 0,
			       count(*) FILTER (WHERE usr IS DISTINCT FROM expected OR identity IS DISTINCT FROM expected
			                              OR n <> $rows->{$u} OR all_mine IS NOT TRUE)
			FROM seen WHERE expected = '$u'}),
			't|0', "every $what of $u ran as $u, with identity $u, and saw exactly her $rows->{$u} rows");
	}
	is($node->safe_psql('postgres', q{
		SELECT count(*) > 0, count(*) FILTER (WHERE usr <> 'authenticator' OR identity IS NOT NULL OR n <> 0)
		FROM seen WHERE expected = '-'}),
		't|0', "every $what without a switch ran as the authenticator with no identity and no rows");
}

1;
