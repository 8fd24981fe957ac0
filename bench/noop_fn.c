/*
 * noop_fn.c — the "trivial C function per row" baseline of the volume-policy
 * figure (docs/benchmarks.md): same argument list as
 * dbx_oauth.volume_allows(text, file_action, text, bigint, policy_user),
 * STRICT off like it, returns true without looking at the arguments beyond
 * NULL checks.  Built by bench/Makefile into bench/build/ and loaded by
 * absolute path at bench time; never installed.
 */
#include "postgres.h"

#include "fmgr.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(bench_noop_allows);

Datum bench_noop_allows(PG_FUNCTION_ARGS);

Datum
bench_noop_allows(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!PG_ARGISNULL(0) && !PG_ARGISNULL(2));
}
