/*
 * jwks_file.cpp — static keys for air-gapped servers and tests.
 *
 * The file is read and parsed here, in C++, inside the boundary; only the
 * resulting status is reported with ereport once all C++ objects are gone.
 */
#include "core/jwks_file.h"

#include "pg/common/boundary.h"
#include "pg/common/guc.h"
#include "pg/keys/jwks_file.h"
#include "pg/keys/key_store.h"

using dbx_oauth::pg::cpp_call;
using dbx_oauth::pg::PgError;

namespace {

/* Reads and checks the file with the worker's loader; throws SqlError
 * describing what is wrong with it. */
int publish_file(const char *path) {
    dbx_oauth::core::JwksCheck check = dbx_oauth::core::load_jwks_file(path, KEY_STORE_MAX_JWKS_BYTES);
    if (!check.ok)
        throw dbx_oauth::pg::SqlError(ERRCODE_INVALID_PARAMETER_VALUE, "JWKS file is invalid", check.error);
    int count = check.key_count;
    if (!key_store_publish(KEY_STORE_FILE_SLOT, KEY_SOURCE_JWKS_FILE, check.compact_json.data(),
                           check.compact_json.size(), count))
        throw dbx_oauth::pg::SqlError(ERRCODE_PROGRAM_LIMIT_EXCEEDED,
                                      "no key store slot for the JWKS file");
    return count;
}

}  // namespace

bool load_jwks_file_into_store(int elevel) {
    const char *path = dbx_oauth_jwks_file;
    if (path == nullptr || path[0] == '\0') {
        key_store_publish(KEY_STORE_FILE_SLOT, KEY_SOURCE_NONE, nullptr, 0, 0);
        return true;
    }
    PgError err;
    int count = 0;
    if (!cpp_call(&err, [&] { count = publish_file(path); })) {
        ereport(Max(elevel, WARNING), (errmsg("dbx_oauth: could not load keys from \"%s\": %s", path,
                                err.message),
                         err.detail[0] ? errdetail("%s", err.detail) : 0));
        return false;
    }
    ereport(elevel, (errmsg("dbx_oauth: loaded %d key(s) from \"%s\"", count, path)));
    return true;
}
