// JWS signature verification (see signature.h).
#include "core/signature.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "core/digest.h"

namespace dbx_oauth::core {

namespace {

struct MdCtxFree { void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); } };
struct SigFree { void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); } };
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using SigPtr = std::unique_ptr<ECDSA_SIG, SigFree>;

// Group orders n of P-256 and P-384 (SEC 2 / FIPS 186-4), big endian.  A
// unit test cross-checks them against OpenSSL's EC_GROUP_get0_order.
constexpr unsigned char kP256Order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
constexpr unsigned char kP384Order[48] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
    0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73};

// r and s must lie in [1, n-1] (SEC 1 §4.1.4 step 1).  OpenSSL checks this
// too; checking here keeps the rule explicit and independent of versions.
bool scalar_in_range(const unsigned char* value, const unsigned char* order, std::size_t size) {
  bool all_zero = true;
  for (std::size_t i = 0; i < size; ++i) all_zero = all_zero && value[i] == 0;
  return !all_zero && std::memcmp(value, order, size) < 0;
}

struct PkeyCtxFree { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

// A context initialised for verification with spec's padding and digest,
// ready for EVP_PKEY_verify on a precomputed digest; nullptr on failure.
PkeyCtxPtr new_verify_context(const Jwk& key, const AlgorithmSpec& spec, const EVP_MD* md) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 || EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1)
    return nullptr;
  if (spec.scheme == SignatureScheme::rsa_pss) {
    // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) != 1) {
      return nullptr;
    }
  } else if (spec.scheme == SignatureScheme::rsa_pkcs1) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) return nullptr;
  }
  return ctx;
}

}  // namespace

// One prepared context per algorithm the key has verified with (a key
// without "alg" may serve several, e.g. RS256 and PS256).
struct PreparedVerifiers {
  std::vector<std::pair<const AlgorithmSpec*, PkeyCtxPtr>> contexts;

  EVP_PKEY_CTX* get(const Jwk& key, const AlgorithmSpec& spec, const EVP_MD* md) {
    for (auto& entry : contexts)
      if (entry.first == &spec) return entry.second.get();
    PkeyCtxPtr ctx = new_verify_context(key, spec, md);
    if (!ctx) return nullptr;
    contexts.emplace_back(&spec, std::move(ctx));
    return contexts.back().second.get();
  }
};

namespace {

// RSA and ECDSA: hash the signing input (unless the caller did: then
// input_sha256 is its SHA-256, and spec's digest is SHA-256), then verify
// the digest with the key's prepared context.  EVP_PKEY_verify leaves the
// context reusable.
bool verify_prehashed(const Jwk& key, const AlgorithmSpec& spec, std::string_view input,
                      const TokenDigest* input_sha256, std::string_view signature) {
  const EVP_MD* md = fetched_digest(spec.digest);
  if (!md) return false;
  unsigned char computed[EVP_MAX_MD_SIZE];
  const unsigned char* digest = computed;
  unsigned int digest_length = 0;
  if (input_sha256 != nullptr) {
    digest = input_sha256->data();
    digest_length = static_cast<unsigned int>(input_sha256->size());
  } else if (EVP_Digest(input.data(), input.size(), computed, &digest_length, md, nullptr) != 1) {
    return false;
  }
  if (!key.prepared) key.prepared = std::make_shared<PreparedVerifiers>();
  EVP_PKEY_CTX* ctx = key.prepared->get(key, spec, md);
  return ctx != nullptr &&
         EVP_PKEY_verify(ctx, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                         digest, digest_length) == 1;
}

// EdDSA signs the message itself (no prehash), so it takes the one-shot
// digest-verify interface with a fresh context each time.
bool verify_eddsa(const Jwk& key, std::string_view input, std::string_view signature) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.pkey.get(),
                                      nullptr) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

}  // namespace

std::string ecdsa_raw_to_der(std::string_view raw, std::size_t coord_bytes) {
  const unsigned char* order = coord_bytes == 32 ? kP256Order : coord_bytes == 48 ? kP384Order : nullptr;
  if (!order || raw.size() != 2 * coord_bytes) return {};
  const auto* r_bytes = reinterpret_cast<const unsigned char*>(raw.data());
  const auto* s_bytes = r_bytes + coord_bytes;
  if (!scalar_in_range(r_bytes, order, coord_bytes) || !scalar_in_range(s_bytes, order, coord_bytes)) {
    return {};
  }
  SigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(r_bytes, static_cast<int>(coord_bytes), nullptr);
  BIGNUM* s = BN_bin2bn(s_bytes, static_cast<int>(coord_bytes), nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    return {};
  }
  unsigned char* der = nullptr;
  const int length = i2d_ECDSA_SIG(sig.get(), &der);
  if (length <= 0 || !der) return {};
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(length));
  OPENSSL_free(der);
  return out;
}

namespace {

bool is_sha256_spec(const AlgorithmSpec& spec) {
  return spec.scheme != SignatureScheme::eddsa && spec.digest != nullptr &&
         std::strcmp(spec.digest, "SHA256") == 0;
}

// Both entry points: input_sha256, when given, replaces hashing
// signing_input and is only accepted for a SHA-256 algorithm.
Reason verify(std::string_view alg, const Jwk& key, std::string_view signing_input,
              const TokenDigest* input_sha256, std::string_view signature) {
  const AlgorithmSpec* spec = find_algorithm(alg);
  if (!spec || (input_sha256 != nullptr && !is_sha256_spec(*spec))) return Reason::unsupported_alg;
  if (!key.fits_alg(alg)) return Reason::key_alg_mismatch;

  bool valid = false;
  if (spec->scheme == SignatureScheme::ecdsa) {
    // JOSE carries r||s; a DER signature (what OpenSSL and most libraries
    // produce natively) has another length and is refused here.
    const std::string der = ecdsa_raw_to_der(signature, spec->coord_bytes);
    valid = !der.empty() && verify_prehashed(key, *spec, signing_input, input_sha256, der);
  } else if (spec->scheme == SignatureScheme::eddsa) {
    valid = verify_eddsa(key, signing_input, signature);
  } else {
    valid = verify_prehashed(key, *spec, signing_input, input_sha256, signature);
  }
  // A failed verification leaves errors on the thread's OpenSSL queue, which
  // the backend's TLS code would later misread as its own.
  ERR_clear_error();
  return valid ? Reason::ok : Reason::bad_signature;
}

}  // namespace

Reason verify_signature(std::string_view alg, const Jwk& key, std::string_view signing_input,
                        std::string_view signature) {
  return verify(alg, key, signing_input, nullptr, signature);
}

bool signs_sha256_digest(std::string_view alg) {
  const AlgorithmSpec* spec = find_algorithm(alg);
  return spec != nullptr && is_sha256_spec(*spec);
}

Reason verify_signature_sha256(std::string_view alg, const Jwk& key, const TokenDigest& signing_input_sha256,
                               std::string_view signature) {
  return verify(alg, key, std::string_view(), &signing_input_sha256, signature);
}

}  // namespace dbx_oauth::core
