// The static JWKS file (dbx_oauth.jwks_file): read with a size cap and
// checked like any other JWKS.  One loader for both readers of the file:
// the postmaster at start-up and the key-refresh worker on every reload, so
// the two can never disagree about what a valid file is.
#pragma once
#include "core/no_postgres.h"

#include <string>

#include "core/key_fetch.h"

namespace dbx_oauth::core {

// Files larger than this are refused before parsing.
inline constexpr size_t kMaxJwksFileBytes = 1024 * 1024;

// Reads path (at most max_file_bytes) and checks it with
// check_jwks_document(…, max_compact_bytes).  On failure check.ok is false
// and check.error names the file and the problem (safe to log: the path
// and a reason, never the file's content).
JwksCheck load_jwks_file(const std::string& path, size_t max_compact_bytes,
                         size_t max_file_bytes = kMaxJwksFileBytes);

}  // namespace dbx_oauth::core
