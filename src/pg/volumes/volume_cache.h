/*
 * volume_cache.h — per-backend cache of dbx_oauth.volumes and
 * dbx_oauth.files_settings, of parsed policies, and of the extension's type
 * and enum OIDs, so that volume_allows() does no catalog lookup and no JSON
 * work per row.
 *
 * Invalidation: a statement trigger on both tables calls
 * CacheInvalidateRelcacheByRelid() (dbx_oauth_volumes_invalidate), which
 * reaches every backend through the shared invalidation queue at commit
 * (and this backend at the next command); our relcache callback marks the
 * cache stale and the next use reloads it.  DROP EXTENSION drops the tables,
 * which invalidates the same way.
 *
 * All functions here run in C++ scope (inside cpp_call) and may throw.
 */
#pragma once

#include "core/file_action.h"
#include "core/policy.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

extern "C" {
#include "postgres.h"
}

namespace dbx_oauth::pg {

inline constexpr int64_t kDefaultMaxUploadSize = INT64_C(5) * 1024 * 1024 * 1024; /* 5 GiB */
inline constexpr int64_t kDefaultMaxReadSize = INT64_C(10) * 1024 * 1024;         /* 10 MiB */

struct VolumeEntry {
    std::string key;
    std::string volume_path;
    std::optional<core::VolumeAuthMode> auth;
    std::shared_ptr<const core::Policy> policy; /* nullptr when policy_error is set */
    std::string policy_error;
    std::optional<int64_t> max_upload_size;
    std::optional<int64_t> max_read_size;
};

struct FilesSettings {
    std::optional<core::VolumeAuthMode> auth;
    int64_t max_upload_size = kDefaultMaxUploadSize;
    int64_t max_read_size = kDefaultMaxReadSize;
    bool dev_mode = false;
};

struct ExtensionTypes {
    Oid file_action = InvalidOid;
    Oid file_resource = InvalidOid;
    Oid policy_user = InvalidOid;
    Oid action_values[core::kFileActionCount] = {}; /* pg_enum OIDs, by FileAction */
};

/* Reloads the cache when it is stale.  Cheap when it is current. */
void volume_cache_refresh();

/* Changes at every reload; pointers from volume_cache_find() stay valid until then. */
uint64_t volume_cache_generation();

/* After volume_cache_refresh(): the volume or nullptr. */
const VolumeEntry *volume_cache_find(std::string_view key);

/* Same, but throws 42704 'volume "<key>" does not exist'. */
const VolumeEntry &volume_cache_get(std::string_view key);

const FilesSettings &volume_cache_settings();
const ExtensionTypes &volume_cache_types();

/* Resolution order: volume -> files_settings -> service-principal. */
core::VolumeAuthMode volume_auth_mode(const VolumeEntry &volume);

/* Enum value <-> action (after refresh). */
core::FileAction file_action_from_oid(Oid value);
Oid file_action_to_oid(core::FileAction action);

/* Parsed policy for a jsonb datum (a Jsonb *), keyed by its bytes; throws
 * 22023 "invalid volume policy: <where>: <what>" for a bad policy. */
std::shared_ptr<const core::Policy> policy_from_jsonb(const void *jsonb);

/* Name of current_user, cached per role OID (invalidated on role changes). */
const std::string &current_role_name();

}  // namespace dbx_oauth::pg
