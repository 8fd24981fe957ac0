# NodePackage: the Node.js packages of the repository (clients/node,
# examples/*) copied into a test's temporary directory, their locked
# dependencies installed, and commands run in them.
#
# Dependencies come from the source directory's node_modules when
# scripts/build-node made it (CI installs once, as root, before the tests),
# else from `npm ci` (needs the npm registry).
package NodePackage;

use strict;
use warnings;
use File::Path qw(make_path);
use IPC::Run;
use Test::More;
use DbxOAuthNode;

# Runs $cmd (array ref) in $cwd; returns (ok, stdout, stderr).
sub run_in {
	my ($cwd, $cmd, $timeout, %env) = @_;
	my ($o, $e) = ('', '');
	local %ENV = (%ENV, %env);
	delete @ENV{qw(PGHOST PGPORT PGUSER PGDATABASE PGSSLMODE PGPASSWORD)} unless $env{PGHOST};
	my $ok = IPC::Run::run($cmd, init => sub { chdir $cwd or die "$cwd: $!" }, '>', \$o, '2>', \$e,
		IPC::Run::timeout($timeout));
	return ($ok, $o, $e);
}

# Fails the test run unless node >= 20 is installed.
sub require_node {
	my $v = `node --version 2>&1`;
	ok($? == 0 && $v =~ /^v(\d+)\./ && $1 >= 20, 'node >= 20 is installed')
	  or BAIL_OUT("node is missing or too old: $v");
}

# Copies the package at $rel (relative to the source tree) to $dest with its
# dependencies installed; returns $dest.
sub prepare {
	my ($rel, $dest) = @_;
	my $src = "$DbxOAuthNode::SRCDIR/$rel";
	make_path($dest);
	system('rsync', '-a', '--exclude', 'node_modules', '--exclude', 'dist', '--exclude', '*.tgz', "$src/", "$dest/") == 0
	  or die "rsync $src: $?";
	if (-d "$src/node_modules") {
		symlink("$src/node_modules", "$dest/node_modules") or die "symlink: $!";
		note("$rel: using its node_modules (scripts/build-node)");
	} else {
		my ($ok, $o, $e) = run_in($dest, [ 'npm', 'ci', '--no-audit', '--no-fund', '--loglevel=error' ], 300);
		ok($ok, "$rel: npm ci installs the locked dependencies") or diag("$o\n$e");
	}
	return $dest;
}

# clients/node built (tsc) and packed under $dir; returns (package dir, tarball).
sub client_tarball {
	my ($dir) = @_;
	my $pkg = prepare('clients/node', "$dir/pkg");
	my ($ok, $o, $e) = run_in($pkg, [ 'npm', 'run', 'build' ], 180);
	ok($ok, 'clients/node: tsc builds the client') or diag("$o\n$e");
	($ok, $o, $e) = run_in($pkg, [ 'npm', 'pack', '--pack-destination', $dir, '--loglevel=error' ], 180);
	ok($ok, 'clients/node: npm pack makes a tarball') or diag("$o\n$e");
	my ($tarball) = glob("$dir/dbx-oauth-pg-identity-*.tgz");
	return ($pkg, $tarball);
}

1;
