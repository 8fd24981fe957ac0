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
}

/*
 * errhidestmt: the statement that failed may carry a token as a literal
 * (SELECT dbx_oauth.set_token('eyJ...')), and log_min_error_statement would
 * otherwise copy it into the server log.
 */
void raise_pg_error(const PgError *err) {
    ereport(err->elevel,
            (errcode(err->sqlstate), errmsg("%s", err->message), errhidestmt(true),
             err->detail[0] ? errdetail("%s", err->detail) : 0,
             err->hint[0] ? errhint("%s", err->hint) : 0));
    pg_unreachable();
}

void pg_call_impl(void (*fn)(void *), void *arg) {
    MemoryContext oldcontext = CurrentMemoryContext;
    PgError captured;
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
        FreeErrorData(edata);
        failed = true;
    }
    PG_END_TRY();

    if (failed)
        throw PgCallError(captured.sqlstate, captured.message, captured.detail, captured.hint);
}

char *pstrdup_cpp(const std::string &s) {
    return pg_call([&] { return pnstrdup(s.data(), s.size()); });
}

}  // namespace dbx_oauth::pg
