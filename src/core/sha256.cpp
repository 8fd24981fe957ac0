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

// These only fail on allocation failure; they report it as bad_alloc rather
// than return an all-zero digest that would collide.
void start(EVP_MD_CTX* ctx, std::string_view data) {
  const EVP_MD* md = fetched_digest("SHA256");
  if (md == nullptr || ctx == nullptr || EVP_DigestInit_ex2(ctx, md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx, data.data(), data.size()) != 1) {
    throw std::bad_alloc();
  }
}

TokenDigest finalise(EVP_MD_CTX* ctx) {
  TokenDigest digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx, digest.data(), &length) != 1 || length != digest.size()) throw std::bad_alloc();
  return digest;
}

}  // namespace

std::array<unsigned char, 32> sha256(std::string_view data) {
  // One context per thread, re-initialised for each digest: EVP_Digest
  // would allocate and free one per call, a measurable part of hashing a
  // ~700-byte token.
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  start(ctx.get(), data);
  return finalise(ctx.get());
}

Sha256Prefix::Sha256Prefix() : whole_(EVP_MD_CTX_new()), fork_(EVP_MD_CTX_new()) {}

Sha256Prefix::~Sha256Prefix() {
  EVP_MD_CTX_free(whole_);
  EVP_MD_CTX_free(fork_);
}

TokenDigest Sha256Prefix::begin(std::string_view prefix) {
  start(whole_, prefix);
  // The copy carries the prefix's state (and its partial block); finishing
  // it leaves whole_ ready for the rest.
  if (fork_ == nullptr || EVP_MD_CTX_copy_ex(fork_, whole_) != 1) throw std::bad_alloc();
  return finalise(fork_);
}

TokenDigest Sha256Prefix::finish(std::string_view rest) {
  if (EVP_DigestUpdate(whole_, rest.data(), rest.size()) != 1) throw std::bad_alloc();
  return finalise(whole_);
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
