// Path rules of the AppKit files plugin (docs/volume-policies.md), made stricter where
// the database has the information: absolute paths must lie under *this*
// volume, not merely under /Volumes/.
//
//   - a path is required (empty is an error) and at most 4096 bytes;
//   - it contains no NUL byte and no ".." segment, anywhere;
//   - an absolute path must be the volume root or lie below it;
//   - a relative path is joined to the volume root.
//
// Nothing is decoded: "%2e%2e" or "..\\x" are ordinary names.  Empty and "."
// segments are dropped, so "a//./b/" and "a/b" name the same file and a
// policy sees one spelling of each path.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

inline constexpr std::size_t kMaxPathBytes = 4096;

enum class PathStatus {
  ok,
  required,        // empty path
  too_long,        // more than kMaxPathBytes bytes
  contains_nul,    // a NUL byte
  traversal,       // a ".." segment
  outside_volume,  // absolute, but not the volume root or below it
};

// Stable snake_case name, e.g. "traversal".
const char* path_status_name(PathStatus status);

// Message in PostgreSQL style (lower case, no period), e.g.
// "path must not contain a \"..\" segment".
const char* path_status_message(PathStatus status);

// True for "/Volumes/<catalog>/<schema>/<volume>": exactly three non-empty
// segments after /Volumes, none "." or "..", no NUL, no trailing slash.
bool is_valid_volume_root(std::string_view volume_root);

// Checks `path` against the rules and computes the path relative to
// `volume_root` (which must satisfy is_valid_volume_root), without a leading
// slash; "" is the volume root itself.  *relative points into `path` when no
// rewriting is needed (the common case, no allocation) and into *scratch
// otherwise.  On failure *relative is left empty.
PathStatus relative_volume_path(std::string_view volume_root, std::string_view path,
                                std::string* scratch, std::string_view* relative);

// volume_root + "/" + relative, or volume_root when relative is empty.
std::string join_volume_path(std::string_view volume_root, std::string_view relative);

}  // namespace dbx_oauth::core
