# Copyright dbx_oauth contributors. Test helper, not installed.

=pod

=head1 NAME

FakeWorkspace - a fake Databricks workspace for dbx_oauth TAP tests

=head1 SYNOPSIS

  use lib 'test/perl';
  use FakeWorkspace;

  my $ws = FakeWorkspace->start(dir => "$tmp/ws");      # HTTPS on 127.0.0.1
  $node->append_conf('postgresql.conf', join "\n",
      "dbx_oauth.issuers = '" . $ws->issuer . "'",
      "dbx_oauth.ca_file = '" . $ws->ca_file . "'");
  my $token = $ws->mint(sub => 'alice@example.com');
  my $bad   = $ws->mint(sub => 'alice@example.com', lifetime => -60);
  $ws->fault(path => 'jwks', mode => 'status', status => 503);
  $ws->set_clock_offset(600);                             # Date headers 10 min ahead
  is($ws->stats->{jwks}, 1, 'one JWKS fetch');
  $ws->stop;                                              # also on DESTROY / END

=head1 DESCRIPTION

Thin wrapper over test/fixtures/workspace (Python, /usr/bin/python3). Uses only
core Perl modules; every call runs the Python CLI (about 0.15 s each).
mint() options are those of POST /_control/mint (see test/fixtures/README.md):
kid alg iss aud sub client_id scope lifetime iat exp nbf jti typ claims
raw_claims drop_claims headers raw_headers drop_headers raw_header raw_payload
filler tamper ecdsa_der alg_none hs256_with_public_key hmac_secret pad_base64
std_base64 noncanonical_base64 segment_prefix segment_suffix sign_canonical pyjwt.
Numbers must be Perl numbers (time() + 60), not strings, to be sent as JSON numbers.

=cut

package FakeWorkspace;

use strict;
use warnings;

use Carp qw(croak);
use Cwd ();
use File::Basename ();
use File::Spec;
use File::Temp ();
use JSON::PP ();
use Scalar::Util ();

our $PYTHON = $ENV{DBX_FAKE_PYTHON} || '/usr/bin/python3';
our $FIXTURES = Cwd::abs_path(
	File::Spec->catdir(File::Basename::dirname(__FILE__), '..', 'fixtures'));
our $WORKSPACE = "$FIXTURES/workspace";
our $MINT = "$FIXTURES/mint";

my $json = JSON::PP->new->canonical->allow_nonref;
my %live;    # "$obj" => weak ref; stopped in END

sub _capture
{
	my (@cmd) = @_;
	open(my $fh, '-|', @cmd) or croak "cannot run $cmd[1]: $!";
	local $/;
	my $out = <$fh>;
	close($fh);
	my $rc = $? >> 8;
	$out = '' unless defined $out;
	return ($rc, $out);
}

sub _run
{
	my (@cmd) = @_;
	my ($rc, $out) = _capture(@cmd);
	croak "command failed (exit $rc): @cmd[1..$#cmd]\n$out" if $rc != 0;
	return $out;
}

=pod

=head2 FakeWorkspace->start(%opts)

dir (default: a fresh temp dir), http (plain HTTP), port (default: the port
recorded in dir from a previous start, else a free one), key_type (rsa2048,
ec256, ed25519, ...), ca_type (rsa|ec), page_size (SCIM), jwks_path.

=cut

sub start
{
	my ($class, %o) = @_;
	my $dir = $o{dir}
	  // File::Temp::tempdir('dbxfake-XXXXXX', TMPDIR => 1, CLEANUP => 1);
	my $self = bless { dir => $dir, opts => \%o, owner => $$ }, $class;
	$self->_start;
	return $self;
}

sub _start
{
	my ($self, %over) = @_;
	my %o = (%{ $self->{opts} }, %over);
	my @cmd = ($PYTHON, $WORKSPACE, 'start', '--dir', $self->{dir});
	push @cmd, '--http' if $o{http};
	push @cmd, '--port', $o{port} if defined $o{port};
	push @cmd, '--key-type', $o{key_type} if $o{key_type};
	push @cmd, '--ca-type', $o{ca_type} if $o{ca_type};
	push @cmd, '--page-size', $o{page_size} if $o{page_size};
	push @cmd, '--jwks-path', $o{jwks_path} if $o{jwks_path};
	_run(@cmd);
	$self->{dir} = Cwd::abs_path($self->{dir});
	$self->{running} = 1;
	for my $f (qw(url issuer port pid workspace_id))
	{
		$self->{$f} = $self->_slurp($f);
	}
	$live{"$self"} = $self;
	Scalar::Util::weaken($live{"$self"});
	return $self;
}

sub _slurp
{
	my ($self, $name) = @_;
	my $path = "$self->{dir}/$name";
	open(my $fh, '<', $path) or croak "cannot read $path: $!";
	local $/;
	my $v = <$fh>;
	close($fh);
	$v =~ s/\s+\z//;
	return $v;
}

sub dir          { $_[0]{dir} }
sub url          { $_[0]{url} }
sub issuer       { $_[0]{issuer} }
sub port         { $_[0]{port} }
sub pid          { $_[0]{pid} }
sub workspace_id { $_[0]{workspace_id} }
sub ca_file      { "$_[0]{dir}/ca.pem" }
sub log_file     { "$_[0]{dir}/server.log" }
sub key_dir      { "$_[0]{dir}/keys" }
sub jwks_file    { "$_[0]{dir}/keys/jwks.json" }    # for dbx_oauth.jwks_file
sub jwks_uri     { $_[0]->control('/info')->{jwks_uri} }
sub is_running   { $_[0]{running} }

# postgresql.conf lines for a cluster that trusts this workspace: the
# library preloaded, this issuer over HTTPS with the test CA, no SSL
# requirement for clients; then the caller's extra lines.
sub server_conf
{
	my ($self, @extra) = @_;
	return join("\n",
		"shared_preload_libraries = 'dbx_oauth'",
		"dbx_oauth.require_ssl = off",
		"dbx_oauth.issuers = '$self->{issuer}'",
		"dbx_oauth.ca_file = '" . $self->ca_file . "'",
		@extra, '');
}

=pod

=head2 $ws->control($path, \%json)

GET /_control/$path (POST when a body is given). Returns decoded JSON, or the
text when the answer is not JSON. Croaks on HTTP >= 400 unless
C<< allow_error => 1 >> is passed after the body (then returns the error body).

=cut

sub control
{
	my ($self, $path, $body, %o) = @_;
	my @cmd = ($PYTHON, $WORKSPACE, 'control', '--dir', $self->{dir});
	push @cmd, '--method', $o{method} if $o{method};
	push @cmd, $path;
	push @cmd, $json->encode($body) if defined $body;
	my ($rc, $out) = _capture(@cmd);
	croak "control $path failed (exit $rc): $out" if $rc != 0 && !$o{allow_error};
	my $decoded = eval { $json->decode($out) };
	return $decoded if defined $decoded && ref $decoded;
	$out =~ s/\s+\z//;
	return $out;
}

sub mint
{
	my ($self, %opts) = @_;
	return $self->control('/mint', \%opts);
}

# Mint offline with test/fixtures/mint (no server needed): args are CLI flags.
sub mint_cli
{
	my ($self, @args) = @_;
	my $out = _run($PYTHON, $MINT, 'token', '--dir', $self->key_dir, @args);
	$out =~ s/\s+\z//;
	return $out;
}

sub stats       { $_[0]->control('/stats') }
sub reset_stats { $_[0]->control('/reset_stats', {}) }
sub reset_all   { $_[0]->control('/reset', {}) }
sub list_keys   { $_[0]->control('/keys') }
sub fault       { my ($self, %spec) = @_; $self->control('/fault', \%spec) }
sub clear_faults { $_[0]->control('/fault', { path => '*', mode => 'none' }) }
sub rotate_keys { my ($self, %o) = @_; $self->control('/keys/rotate', \%o)->{kid} }
sub add_key     { my ($self, %o) = @_; $self->control('/keys/add', \%o)->{kid} }
sub remove_key  { my ($self, $kid, %o) = @_; $self->control('/keys/remove', { %o, kid => $kid }) }
sub scim_page_size { $_[0]->control('/scim_page_size', { page_size => $_[1] }) }

# Skew the Date header of every response by $seconds (positive: the
# workspace's clock is ahead of ours); 0 (or reset_all) ends it.
sub set_clock_offset { $_[0]->control('/clock', { offset_seconds => $_[1] + 0 }) }

sub add_client
{
	my ($self, $id, $secret, %o) = @_;
	return $self->control('/clients',
		{ %o, client_id => $id, client_secret => $secret });
}

sub set_group
{
	my ($self, $name, @members) = @_;
	return $self->control('/groups', { name => $name, members => \@members });
}

sub delete_group
{
	my ($self, $name) = @_;
	return $self->control('/groups', { name => $name, delete => JSON::PP::true });
}

sub stop
{
	my ($self) = @_;
	return unless $self->{running};
	return if $self->{owner} != $$;    # never from a forked child
	_run($PYTHON, $WORKSPACE, 'stop', '--dir', $self->{dir});
	$self->{running} = 0;
	delete $live{"$self"};
	return;
}

# Stop and start again on the same port (so the issuer URL is unchanged).
sub restart
{
	my ($self, %over) = @_;
	$self->stop;
	return $self->_start(port => $self->{port}, %over);
}

# True while a process runs; false once it has exited, even while it is a
# zombie not yet reaped by init (kill 0 would still succeed then).
sub pid_alive
{
	my ($pid) = @_;
	return 0 unless kill 0, $pid;
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh>;
	close($fh);
	return 0 unless defined $stat;
	my ($state) = $stat =~ /\)\s+(\S)/;
	return defined $state && $state ne 'Z' ? 1 : 0;
}

sub DESTROY
{
	my ($self) = @_;
	local ($?, $@, $!);
	eval { $self->stop };
}

END
{
	local $?;
	for my $ws (grep { defined } values %live)
	{
		eval { $ws->stop };
	}
}

1;
