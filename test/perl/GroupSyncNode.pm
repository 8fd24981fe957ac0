# GroupSyncNode: the setup the group-sync TAP tests share (test/t/052,
# 054, 055): a fake workspace with a service principal whose secret is in a
# file, and a started node that syncs groups from it with the extension
# installed.  Test helper, not installed.
#
#   my $ws = sync_workspace('sp-SECRET-value-052');   # before the node: set
#   $ws->set_group('analysts', ...);                   # groups up here
#   my $node = sync_node('changes', interval => 10, http_timeout => 3000,
#                        sql => "SELECT dbx_oauth.create_role('analysts', 'GROUP');");
#   sqlv('SELECT ...');                                # on that node
#   $node->connect_ok(connstr('analysts', $ws->mint(sub => $who)), ...);
package GroupSyncNode;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use FakeWorkspace;

our @EXPORT = qw(sync_workspace sync_node sqlv connstr);

our $CLIENT_ID = 'a0c1e2d3-0000-4000-8000-00000000c11e';

my ($ws, $secret_file, $node);

# Starts the fake workspace and registers the service principal with
# $secret, which is also written (mode 0600) to the file the node reads.
sub sync_workspace
{
	my ($secret) = @_;
	my $tmp = PostgreSQL::Test::Utils::tempdir();
	$ws = FakeWorkspace->start(dir => "$tmp/ws");
	$ws->add_client($CLIENT_ID, $secret);
	$secret_file = "$tmp/sp.secret";
	open my $fh, '>', $secret_file or die "$secret_file: $!";
	print $fh "$secret\n";
	close $fh;
	chmod 0600, $secret_file;
	return $ws;
}

# A started node syncing from the workspace of sync_workspace():
# interval => dbx_oauth.group_sync_interval (s), http_timeout =>
# dbx_oauth.http_timeout (ms), sql => statements run after CREATE EXTENSION.
sub sync_node
{
	my ($name, %opts) = @_;
	die "sync_workspace() first" unless $ws;
	$node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', $ws->server_conf(
		"dbx_oauth.http_timeout = $opts{http_timeout}",
		"dbx_oauth.client_id = '$CLIENT_ID'",
		"dbx_oauth.client_secret_file = '$secret_file'",
		"dbx_oauth.group_sync_interval = $opts{interval}",
	));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION dbx_oauth;' . ($opts{sql} // ''));
	return $node;
}

# One query on the node of sync_node(), its output.
sub sqlv { return $node->safe_psql('postgres', $_[0]); }

# A libpq connection string logging in as $user with token $tok.
sub connstr { my ($user, $tok) = @_; return "user='$user' dbname=postgres password='$tok'"; }

1;
