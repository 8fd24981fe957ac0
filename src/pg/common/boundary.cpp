/*
 * boundary.cpp — PgError plumbing and the PG_TRY guard used by pg_call().
 */
#include "pg/common/boundary.h"

extern "C" {
#include "utils/memutils.h"
}

#include <cstring>

namespace dbx_oauth::pg {

static void copy_bounded(char *dst, size_t cap, const char *src) noexcept {
    if (src == nullptr) {
        dst[0] = '\0';
        return;
    }
    strlcpy(dst, src, cap);
}

void fill_pg_error(PgError *out, int sqlstate, const char *message, const char *detail,
                   const char *hint) noexcept {
    out->sqlstate = sqlstate;
    copy_bounded(out->message, sizeof out->message, message);
    copy_bounded(out->detail, sizeof out->detail, detail);
    copy_bounded(out->hint, sizeof out->hint, hint);
    out->file[0] = '\0';
    out->line = 0;
}

void set_pg_error_origin(PgError *out, const char *file, int line) noexcept {
    copy_bounded(out->file, sizeof out->file, file);
    out->line = line;
}

/*
 * errhidestmt: the statement that failed may carry a token as a literal
 * (SELECT dbx_oauth.set_token('eyJ...')), and log_min_error_statement would
 * otherwise copy it into the server log.
 */
void raise_pg_error(const PgError *err, const char *file, int line, const char *func) {
    bool has_origin = err->file[0] != '\0';
    /* ereport() with the error's own place instead of this file's */
    if (errstart(err->elevel, TEXTDOMAIN)) {
        errcode(err->sqlstate);
        errmsg("%s", err->message);
        errhidestmt(true);
        if (err->detail[0])
            errdetail("%s", err->detail);
        if (err->hint[0])
            errhint("%s", err->hint);
        errfinish(has_origin ? err->file : file, has_origin ? err->line : line,
                  has_origin ? nullptr : func);
    }
    pg_unreachable();
}

void pg_call_impl(PgCallTrampoline fn, void *arg, const char *file, int line) {
    MemoryContext oldcontext = CurrentMemoryContext;
    PgError captured;
    const char *volatile origin_file = file; /* a string literal: outlives the error data */
    volatile int origin_line = line;
    volatile bool failed = false;

    PG_TRY();
    {
        fn(arg);
    }
    PG_CATCH();
    {
        MemoryContextSwitchTo(oldcontext);
        ErrorData *edata = CopyErrorData();
        FlushErrorState();
        fill_pg_error(&captured, edata->sqlerrcode, edata->message, edata->detail, edata->hint);
        /* where PostgreSQL raised it, or failing that pg_call's caller */
        if (edata->filename != nullptr) {
            origin_file = edata->filename;
            origin_line = edata->lineno;
        }
        FreeErrorData(edata);
        failed = true;
    }
    PG_END_TRY();

    if (failed)
        throw PgCallError(captured.sqlstate, captured.message, captured.detail, captured.hint,
                          origin_file, origin_line);
}

char *pstrdup_cpp(const std::string &s) {
    return pg_call([&] { return pnstrdup(s.data(), s.size()); });
}

}  // namespace dbx_oauth::pg
