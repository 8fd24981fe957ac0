// SHA-256 via OpenSSL EVP (see sha256.h).
#include "core/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

#include "core/digest.h"

namespace dbx_oauth::core {

namespace {

struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};

}  // namespace

std::array<unsigned char, 32> sha256(std::string_view data) {
  // One context per thread, re-initialised for each digest: EVP_Digest
  // would allocate and free one per call, a measurable part of hashing a
  // ~700-byte token.
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  // These only fail on allocation failure; report it as bad_alloc rather
  // than returning an all-zero digest that would collide.
  const EVP_MD* md = fetched_digest("SHA256");
  if (md == nullptr || !ctx || EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1 || length != digest.size()) {
    throw std::bad_alloc();
  }
  return digest;
}

std::string digest_hex(const TokenDigest& digest, std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (bytes > digest.size()) bytes = digest.size();
  std::string hex(bytes * 2, '\0');
  for (std::size_t i = 0; i < bytes; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return hex;
}

std::string sha256_hex(std::string_view data) { return digest_hex(sha256(data)); }

std::string token_fingerprint(std::string_view token) { return sha256_hex(token).substr(0, 16); }

bool constant_time_equals(std::string_view a, std::string_view b) {
  // Lengths are not secret (tokens and digests have public sizes); only the
  // content comparison must not short-circuit.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace dbx_oauth::core
