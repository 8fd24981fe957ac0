/*
 * boundary.h — the one bridge between C++ exceptions and PostgreSQL errors.
 *
 * PostgreSQL reports errors with longjmp, which skips C++ destructors, and a
 * C++ exception escaping into PostgreSQL frames is undefined behaviour.  So:
 *
 *   - C++ work runs inside cpp_call(), which catches everything and turns it
 *     into a PgError: a plain struct with fixed buffers and no destructor,
 *     safe to keep alive while ereport() unwinds.
 *   - The extern "C" entry point calls raise_pg_error() only after the C++
 *     scope has ended.
 *   - C++ code that must call a PostgreSQL function that may ereport wraps
 *     it in pg_call(), which converts the error into a C++ PgCallError.  A
 *     C++ exception thrown by the wrapped code is caught inside the PG_TRY
 *     block and rethrown only after PG_END_TRY: unwinding through PG_TRY
 *     would leave PG_exception_stack pointing at a dead frame, and the next
 *     ereport(ERROR) would longjmp into it.
 *   - Errors keep the place they came from (the PostgreSQL code that raised
 *     them, a SqlError's throw site, or raise_pg_error's caller), so the
 *     log's LOCATION never names this file.
 *
 * Typical entry point:
 *
 *   extern "C" Datum dbx_oauth_foo(PG_FUNCTION_ARGS) {
 *       PgError err;
 *       text *result = nullptr;
 *       if (!cpp_call(&err, [&] { ...; result = pg_call([&] { return cstring_to_text(s.c_str()); }); }))
 *           raise_pg_error(&err);
 *       PG_RETURN_TEXT_P(result);
 *   }
 */
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/elog.h"
}

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

namespace dbx_oauth::pg {

/* A user-facing SQL error raised from C++ glue code. */
struct SqlError : std::exception {
    int sqlstate;
    std::string message;
    std::string detail;
    std::string hint;
    /* where it was thrown (a string literal), for the log's LOCATION */
    const char *file;
    int line;
    SqlError(int code, std::string msg, std::string det = {}, std::string hnt = {},
             const char *file_ = __builtin_FILE(), int line_ = __builtin_LINE())
        : sqlstate(code), message(std::move(msg)), detail(std::move(det)), hint(std::move(hnt)),
          file(file_), line(line_) {}
    const char *what() const noexcept override { return message.c_str(); }
};

/* A PostgreSQL error caught by pg_call(), carried through C++ frames. */
struct PgCallError : SqlError {
    using SqlError::SqlError;
};

/*
 * Plain data: survives the longjmp of ereport().  The buffers are left
 * uninitialised on purpose (fill_pg_error writes all three): entry points
 * that run per row, like current_identity(), must not clear 2 KB per call.
 */
struct PgError {
    int sqlstate = 0;
    int elevel = ERROR;
    char message[512];
    char detail[1024];
    char hint[512];
    char file[64];  /* origin for the log; empty: raise_pg_error's caller */
    int line;
};

/* Fills the error; its origin is left empty (see set_pg_error_origin). */
void fill_pg_error(PgError *out, int sqlstate, const char *message, const char *detail,
                   const char *hint) noexcept;
void set_pg_error_origin(PgError *out, const char *file, int line) noexcept;

/* Runs body; returns false with *err filled when anything was thrown. */
template <typename Body>
bool cpp_call(PgError *err, Body &&body) noexcept {
    try {
        body();
        return true;
    } catch (const SqlError &e) {
        fill_pg_error(err, e.sqlstate, e.message.c_str(), e.detail.c_str(), e.hint.c_str());
        set_pg_error_origin(err, e.file, e.line);
    } catch (const std::bad_alloc &) {
        fill_pg_error(err, ERRCODE_OUT_OF_MEMORY, "out of memory", nullptr, nullptr);
    } catch (const std::exception &e) {
        fill_pg_error(err, ERRCODE_INTERNAL_ERROR, "dbx_oauth internal error", e.what(), nullptr);
    } catch (...) {
        fill_pg_error(err, ERRCODE_INTERNAL_ERROR, "dbx_oauth internal error", nullptr, nullptr);
    }
    return false;
}

/*
 * ereport()s the captured error at err->elevel (ERROR unless changed), at
 * the error's origin, else at the caller's file and line.
 */
[[noreturn]] void raise_pg_error(const PgError *err, const char *file = __builtin_FILE(),
                                 int line = __builtin_LINE(), const char *func = __builtin_FUNCTION());

/*
 * Runs PostgreSQL code that may ereport(ERROR) from inside C++ code; such an
 * error is caught with PG_TRY, flushed, and rethrown as PgCallError.  fn
 * must not throw (noexcept is part of its type): pg_call's trampoline
 * catches whatever the wrapped code throws and pg_call rethrows it after
 * pg_call_impl has left the PG_TRY block.
 */
using PgCallTrampoline = void (*)(void *) noexcept;
void pg_call_impl(PgCallTrampoline fn, void *arg, const char *file, int line);

template <typename Fn>
auto pg_call(Fn &&fn, const char *file = __builtin_FILE(), int line = __builtin_LINE())
    -> decltype(fn()) {
    using R = decltype(fn());
    if constexpr (std::is_void_v<R>) {
        struct Ctx {
            Fn *fn;
            std::exception_ptr thrown;
        } ctx{&fn, nullptr};
        pg_call_impl([](void *p) noexcept {
            auto *c = static_cast<Ctx *>(p);
            try {
                (*c->fn)();
            } catch (...) {
                c->thrown = std::current_exception();
            }
        }, &ctx, file, line);
        if (ctx.thrown)
            std::rethrow_exception(ctx.thrown);
    } else {
        struct Ctx {
            Fn *fn;
            std::exception_ptr thrown;
            R result;
        } ctx{&fn, nullptr, R{}};
        pg_call_impl([](void *p) noexcept {
            auto *c = static_cast<Ctx *>(p);
            try {
                c->result = (*c->fn)();
            } catch (...) {
                c->thrown = std::current_exception();
            }
        }, &ctx, file, line);
        if (ctx.thrown)
            std::rethrow_exception(ctx.thrown);
        return ctx.result;
    }
}

/* Copies a C++ string into palloc'd memory of the current context. */
char *pstrdup_cpp(const std::string &s);

}  // namespace dbx_oauth::pg
