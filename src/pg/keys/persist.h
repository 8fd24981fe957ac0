/*
 * persist.h — the last good JWKS per issuer on disk, under
 * $PGDATA/dbx_oauth/<sha256(issuer)>.json, so a restarted server validates
 * tokens while the issuer is unreachable.
 *
 * Only the worker calls this.  Plain POSIX I/O and no PostgreSQL calls, so
 * nothing here can ereport; failures come back as text for the worker to
 * log and show in worker_status().
 */
#pragma once

#include "core/persisted_keys.h"

#include <cstdint>
#include <string>

namespace dbx_oauth::pg {

/* Files larger than this are corrupt by definition. */
constexpr size_t kMaxPersistedFileBytes = 256 * 1024;

/* data_dir/dbx_oauth/<sha256 hex>.json */
std::string persisted_keys_path(const std::string &data_dir, const std::string &issuer);

/*
 * Writes atomically: temp file, fsync, rename over the old file, fsync the
 * directory.  A crash leaves either the old or the new file, never a mix.
 * Returns false with *error set on failure.
 */
bool persist_keys_save(const std::string &data_dir, const std::string &issuer,
                       const std::string &jwks_json, int64_t fetched_at_unix, std::string *error);

/*
 * Reads and checks the file.  Returns ok=false with an empty error when
 * there is no file, and with the reason when it is unusable (the caller
 * logs a WARNING and carries on without it).
 */
core::PersistedKeys persist_keys_load(const std::string &data_dir, const std::string &issuer,
                                      size_t max_jwks_bytes);

}  // namespace dbx_oauth::pg
