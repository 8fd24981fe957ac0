# DbxOAuthNode: a PostgreSQL::Test::Cluster set up for token logins.
#
# Creates signing keys with test/fixtures/mint, trusts them through
# dbx_oauth.jwks_file, turns on SSL with a throwaway certificate, listens
# on 127.0.0.1, and installs the extension.  Tests then mint tokens with
# ->mint(...) and connect with real libpq clients.
package DbxOAuthNode;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our $ISSUER = 'https://adb-1234567890123456.7.azuredatabricks.net/oidc';
our $SRCDIR = abs_path(dirname(__FILE__) . '/../..');

sub run_or_die {
	my @cmd = @_;
	my $out = `@cmd 2>&1`;
	die "command failed: @cmd\n$out" if $? != 0;
	chomp $out;
	return $out;
}

# The hba lines every login test uses: OAuth roles on the unix socket, on
# TCP with SSL and (to test require_ssl) on TCP without SSL, all trust (the
# hook demands the token); a password role shows other methods still work.
our $DEFAULT_HBA = <<'HBA';
local all all trust
hostssl all +dbx_oauth_users 127.0.0.1/32 trust
hostnossl all +dbx_oauth_users 127.0.0.1/32 trust
host all plain_pw 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA

# Makes keys, a server certificate and a configured, started node.
# %opts: hba => lines placed before the default ones, conf => extra settings.
sub create {
	my ($class, $name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	my $keys = $node->basedir . '/keys';
	run_or_die("$SRCDIR/test/fixtures/mint", 'keygen', '--dir', $keys,
		'--kid', 'login-rsa', '--type', 'rsa2048', '--kid', 'login-ec', '--type', 'ec256');

	my $data = $node->data_dir;
	run_or_die('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
		'-keyout', "$data/server.key", '-out', "$data/server.crt",
		'-subj', '/CN=127.0.0.1', '-days', '2');
	chmod 0600, "$data/server.key";

	my $extra = $opts{conf} // '';
	# From 18 on, connect_fails(log_like => ...) waits for the postmaster's
	# DEBUG2 report that the backend exited (so the log is complete before it
	# is read): those lines must be logged.
	$extra = "log_min_messages = debug2\n$extra" if $node->pg_version >= 18;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'dbx_oauth'
dbx_oauth.issuers = '$ISSUER'
dbx_oauth.jwks_file = '$keys/jwks.json'
listen_addresses = '127.0.0.1'
ssl = on
log_connections = on
$extra
});
	open my $fh, '>', "$data/pg_hba.conf" or die $!;
	print $fh ($opts{hba} // ''), $DEFAULT_HBA;
	close $fh;
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION dbx_oauth');
	return bless { node => $node, keys => $keys }, $class;
}

# A node whose dbx_oauth.authenticator_role is a password role
# 'authenticator' (SCRAM over TCP, the PgBouncer-style pool role) with an
# OAuth USER role for each of @{$opts{users}}.  Returns ($t, $password);
# %opts: users => [...], conf and hba as for create (added after these).
sub create_with_password_authenticator {
	my ($class, $name, %opts) = @_;
	my $password = 'auth-secret-pw';
	my $t = $class->create($name,
		conf => "dbx_oauth.authenticator_role = 'authenticator'\nlog_statement = none\n" . ($opts{conf} // ''),
		hba => "host all authenticator 127.0.0.1/32 scram-sha-256\n" . ($opts{hba} // ''));
	$t->node->safe_psql('postgres', join("\n",
		"CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD '$password';",
		map { "SELECT dbx_oauth.create_role('$_', 'USER');" } @{ $opts{users} // [] }));
	return ($t, $password);
}

sub node { return $_[0]{node} }
sub keys_dir { return $_[0]{keys} }

# Mints a token; options are mint's without the dashes (sub => ...,
# scope => ..., tamper => 'signature', drop_claim => [...]).  Undef values
# are flags.
sub mint {
	my ($self, %o) = @_;
	my %args = (iss => $ISSUER, aud => '1234567890123456',
		scope => 'offline_access all-apis', client_id => 'databricks-cli', %o);
	my @args = ('--dir', $self->{keys});
	for my $k (sort keys %args) {
		my $v = $args{$k};
		(my $flag = $k) =~ tr/_/-/;
		for my $one (ref $v eq 'ARRAY' ? @$v : ($v)) {
			push @args, "--$flag";
			push @args, $one if defined $one;
		}
	}
	return run_or_die("$SRCDIR/test/fixtures/mint", 'token', map { "'$_'" } @args);
}

# Connection string for a role with a password (the token).
sub connstr {
	my ($self, $user, $password, %o) = @_;
	my $node = $self->{node};
	my $s = "user='$user' dbname=postgres";
	$s .= " password='$password'" if defined $password;
	if ($o{tcp}) {
		$s .= " host=127.0.0.1 port=" . $node->port;
		$s .= " sslmode=" . ($o{ssl} ? 'require' : 'disable');
	}
	return $s;
}

# Everything the server logged so far (to prove tokens never appear).
sub server_log {
	my ($self) = @_;
	return PostgreSQL::Test::Utils::slurp_file($self->{node}->logfile);
}

1;
