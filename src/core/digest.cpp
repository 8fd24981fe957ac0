// Digests fetched once per process (see digest.h).
#include "core/digest.h"

#include <cstring>

namespace dbx_oauth::core {

namespace {

// Function-local statics: fetched on first use (thread-safe initialisation),
// never freed, so the pointers stay valid for every later caller.
const EVP_MD* fetch_once(const char* name) { return EVP_MD_fetch(nullptr, name, nullptr); }

}  // namespace

const EVP_MD* fetched_digest(const char* name) {
  if (name == nullptr) return nullptr;
  if (std::strcmp(name, "SHA256") == 0) {
    static const EVP_MD* const sha256 = fetch_once("SHA256");
    return sha256;
  }
  if (std::strcmp(name, "SHA384") == 0) {
    static const EVP_MD* const sha384 = fetch_once("SHA384");
    return sha384;
  }
  if (std::strcmp(name, "SHA512") == 0) {
    static const EVP_MD* const sha512 = fetch_once("SHA512");
    return sha512;
  }
  return nullptr;
}

}  // namespace dbx_oauth::core
