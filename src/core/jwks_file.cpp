// The static JWKS file loader (see jwks_file.h).
#include "core/jwks_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dbx_oauth::core {

namespace {

// Reads at most max_bytes + 1 bytes so an oversized file is detected
// without reading all of it.
bool read_capped(const std::string& path, size_t max_bytes, std::string* out, std::string* error) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    *error = "could not open file \"" + path + "\": " + std::strerror(errno);
    return false;
  }
  char buf[8192];
  size_t n;
  bool ok = true;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    out->append(buf, n);
    if (out->size() > max_bytes) {
      *error = "file \"" + path + "\" is larger than " + std::to_string(max_bytes) + " bytes";
      ok = false;
      break;
    }
  }
  if (ok && std::ferror(f)) {
    *error = "could not read file \"" + path + "\": " + std::strerror(errno);
    ok = false;
  }
  std::fclose(f);
  return ok;
}

}  // namespace

JwksCheck load_jwks_file(const std::string& path, size_t max_compact_bytes, size_t max_file_bytes) {
  std::string content, error;
  if (!read_capped(path, max_file_bytes, &content, &error)) {
    JwksCheck failed;
    failed.error = error;
    return failed;
  }
  JwksCheck check = check_jwks_document(content, max_compact_bytes);
  if (!check.ok) check.error = "file \"" + path + "\": " + check.error;
  return check;
}

}  // namespace dbx_oauth::core
