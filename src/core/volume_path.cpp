// Path rules for volume paths; see volume_path.h.
#include "core/volume_path.h"

#include <cstring>

namespace dbx_oauth::core {

namespace {

constexpr std::string_view kVolumesPrefix = "/Volumes/";

// Calls fn(segment) for each '/'-separated segment of path, including empty
// ones; stops early when fn returns false.
template <typename Fn>
void for_each_segment(std::string_view path, Fn&& fn) {
  std::size_t start = 0;
  while (true) {
    std::size_t slash = path.find('/', start);
    std::string_view seg =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (!fn(seg)) return;
    if (slash == std::string_view::npos) return;
    start = slash + 1;
  }
}

// What the rules need to know of a path, found with one memchr for NUL and
// one walk over its segments: volume_allows() checks a path per row of an
// RLS scan, and walking it once per rule cost more than the walk itself.
struct PathScan {
  bool nul = false;        // a NUL byte
  bool traversal = false;  // a ".." segment
  bool unclean = false;    // an empty or "." segment (normalize_relative has work)
};

PathScan scan_path(std::string_view path) {
  PathScan scan;
  if (std::memchr(path.data(), '\0', path.size()) != nullptr) {
    scan.nul = true;
    return scan;  // reported first: the rest does not matter
  }
  for_each_segment(path, [&](std::string_view seg) {
    if (seg.empty() || seg == ".")
      scan.unclean = true;
    else if (seg == "..")
      scan.traversal = true;
    return !scan.traversal;
  });
  return scan;
}

// Relative part (no leading slash) without empty or "." segments.
std::string_view normalize_relative(std::string_view rel, std::string* scratch) {
  bool clean = true;
  for_each_segment(rel, [&](std::string_view seg) {
    if (seg.empty() || seg == ".") clean = false;
    return clean;
  });
  if (clean) return rel;

  scratch->clear();
  for_each_segment(rel, [&](std::string_view seg) {
    if (seg.empty() || seg == ".") return true;
    if (!scratch->empty()) scratch->push_back('/');
    scratch->append(seg.data(), seg.size());
    return true;
  });
  return *scratch;
}

}  // namespace

const char* path_status_name(PathStatus status) {
  switch (status) {
    case PathStatus::ok: return "ok";
    case PathStatus::required: return "required";
    case PathStatus::too_long: return "too_long";
    case PathStatus::contains_nul: return "contains_nul";
    case PathStatus::traversal: return "traversal";
    case PathStatus::outside_volume: return "outside_volume";
  }
  return "unknown";
}

const char* path_status_message(PathStatus status) {
  switch (status) {
    case PathStatus::ok: return "path is valid";
    case PathStatus::required: return "path is required";
    case PathStatus::too_long: return "path exceeds the maximum length of 4096 bytes";
    case PathStatus::contains_nul: return "path must not contain null bytes";
    case PathStatus::traversal: return "path must not contain a \"..\" segment";
    case PathStatus::outside_volume: return "absolute path is outside the volume";
  }
  return "invalid path";
}

bool is_valid_volume_root(std::string_view root) {
  if (root.size() > kMaxPathBytes || root.find('\0') != std::string_view::npos) return false;
  if (root.substr(0, kVolumesPrefix.size()) != kVolumesPrefix) return false;
  std::string_view rest = root.substr(kVolumesPrefix.size());
  int count = 0;
  bool ok = true;
  for_each_segment(rest, [&](std::string_view seg) {
    ++count;
    if (seg.empty() || seg == "." || seg == "..") ok = false;
    return ok;
  });
  return ok && count == 3;
}

PathStatus relative_volume_path(std::string_view volume_root, std::string_view path,
                                std::string* scratch, std::string_view* relative) {
  *relative = std::string_view();
  if (path.empty()) return PathStatus::required;
  if (path.size() > kMaxPathBytes) return PathStatus::too_long;
  const PathScan scan = scan_path(path);
  if (scan.nul) return PathStatus::contains_nul;
  if (scan.traversal) return PathStatus::traversal;

  if (path.front() != '/') {
    *relative = scan.unclean ? normalize_relative(path, scratch) : path;
    return PathStatus::ok;
  }
  if (path.substr(0, volume_root.size()) != volume_root) return PathStatus::outside_volume;
  std::string_view rest = path.substr(volume_root.size());
  if (!rest.empty() && rest.front() != '/') return PathStatus::outside_volume;  // "/Volumes/c/s/v2"
  if (!rest.empty()) rest.remove_prefix(1);
  *relative = normalize_relative(rest, scratch);
  return PathStatus::ok;
}

std::string join_volume_path(std::string_view volume_root, std::string_view relative) {
  std::string out;
  out.reserve(volume_root.size() + 1 + relative.size());
  out.append(volume_root.data(), volume_root.size());
  if (!relative.empty()) {
    out.push_back('/');
    out.append(relative.data(), relative.size());
  }
  return out;
}

}  // namespace dbx_oauth::core
