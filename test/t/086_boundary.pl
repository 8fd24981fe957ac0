# The C++/PostgreSQL boundary: a C++ exception thrown inside pg_call() must
# never unwind through PG_TRY (PG_exception_stack would keep pointing at a
# dead frame and the next ereport(ERROR) would longjmp into it, crashing the
# backend), and errors keep their origin in the log's LOCATION instead of
# naming boundary.cpp.  Uses a test-only entry point that no extension
# script declares: only a superuser can create a function for it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use DbxOAuthNode;

my $t = DbxOAuthNode->create('boundary', conf => "log_error_verbosity = verbose");
my $node = $t->node;
$node->safe_psql('postgres', q{
	CREATE FUNCTION boundary_selftest(int) RETURNS void
	  AS '$libdir/dbx_oauth', 'dbx_oauth_boundary_selftest' LANGUAGE C STRICT;
});

my $offset = -s $node->logfile;
my ($ret, $out, $err) = $node->psql('postgres', q{
\set VERBOSITY verbose
SELECT boundary_selftest(1);
SELECT 1/0;
SELECT boundary_selftest(1);
BEGIN;
SELECT boundary_selftest(1);
ROLLBACK;
SELECT 'still alive';
}, on_error_stop => 0);
like($err, qr/ERROR:  XX000: dbx_oauth internal error\nDETAIL:  thrown inside pg_call/,
	'a C++ exception inside pg_call becomes an SQL error');
like($err, qr/ERROR:  22012: division by zero/, 'the next ereport(ERROR) is an ordinary error');
is($out, 'still alive', 'the backend survives, the session goes on');
my $log = substr(slurp_file($node->logfile), $offset);
unlike($log, qr/terminated by signal|server process .* was terminated|all server processes terminated/,
	'no backend crashed, no restart');

$offset = -s $node->logfile;
($ret, $out, $err) = $node->psql('postgres', 'SELECT boundary_selftest(2)');
like($err, qr/invalid input syntax for type integer/, 'a PostgreSQL error inside pg_call is reported');
($ret, $out, $err) = $node->psql('postgres', 'SELECT boundary_selftest(3)');
like($err, qr/thrown by the self test/, 'a SqlError is reported');
$log = substr(slurp_file($node->logfile), $offset);
like($log, qr/invalid input syntax.*\n(?:.*\n)*?.*LOCATION:  .*numutils\.c:\d+/,
	'LOCATION names where PostgreSQL raised the error');
like($log, qr/thrown by the self test\n(?:.*\n)*?.*LOCATION:  .*boundary_selftest\.cpp:\d+/,
	'LOCATION names the throw site of a SqlError');
unlike($log, qr/LOCATION:  .*boundary\.cpp/, 'LOCATION never names boundary.cpp');

$node->stop;
done_testing();
