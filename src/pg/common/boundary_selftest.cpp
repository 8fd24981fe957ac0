/*
 * boundary_selftest.cpp — a test-only entry point for the C++/PostgreSQL
 * boundary (test/t/086_boundary.pl).
 *
 * No extension script declares it: only a superuser can reach it, with
 * CREATE FUNCTION ... LANGUAGE C naming the symbol.  Modes:
 *   1: a C++ exception thrown inside pg_call (must not unwind through PG_TRY)
 *   2: a PostgreSQL error inside pg_call (the log names where PostgreSQL raised it)
 *   3: a SqlError thrown in C++ (the log names this file)
 */
#include "pg/common/boundary.h"

extern "C" {
#include "fmgr.h"
#include "utils/builtins.h"
}

#include <stdexcept>

extern "C" {
PG_FUNCTION_INFO_V1(dbx_oauth_boundary_selftest);
}

extern "C" PGDLLEXPORT Datum dbx_oauth_boundary_selftest(PG_FUNCTION_ARGS) {
    int32 mode = PG_GETARG_INT32(0);
    dbx_oauth::pg::PgError err;
    if (!dbx_oauth::pg::cpp_call(&err, [&] {
            switch (mode) {
            case 1:
                dbx_oauth::pg::pg_call([] { throw std::runtime_error("thrown inside pg_call"); });
                break;
            case 2:
                (void) dbx_oauth::pg::pg_call([] { return DirectFunctionCall1(int4in, CStringGetDatum("not a number")); });
                break;
            case 3:
                throw dbx_oauth::pg::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "thrown by the self test");
            default:
                break;
            }
        }))
        dbx_oauth::pg::raise_pg_error(&err);
    PG_RETURN_VOID();
}
