// JSON Web Keys (RFC 7517) for signature verification, and the table of
// JWS algorithms (RFC 7518 / RFC 8037) this extension understands.
//
// A JWKS comes from the network (via the worker) or a file.  One bad key
// must not take the issuer down, so unusable keys are skipped with a reason
// and the rest stay usable; only a document that is unusable as a whole is
// an error.  Every key that survives is an OpenSSL public key that passed
// OpenSSL's own public-key check.
#pragma once
#include "core/no_postgres.h"

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dbx_oauth::core {

enum class KeyType { rsa, ec, okp };

// "RSA", "EC", "OKP" (the JWK kty spelling).
const char* key_type_name(KeyType type);

enum class SignatureScheme { rsa_pkcs1, rsa_pss, ecdsa, eddsa };

// One asymmetric JWS algorithm.  HMAC and "none" are deliberately absent:
// they can never be looked up, so they can never be enabled.
struct AlgorithmSpec {
  const char* name;        // "RS256", ...
  KeyType kty;             // key type the algorithm needs
  SignatureScheme scheme;
  const char* digest;      // OpenSSL digest name; nullptr for EdDSA
  const char* crv;         // curve the key must have; nullptr for RSA
  std::size_t coord_bytes; // ECDSA: bytes of r and of s; 0 otherwise
};

// Exact, case-sensitive lookup; nullptr for "none", HS*, and anything unknown.
const AlgorithmSpec* find_algorithm(std::string_view alg);

// RS256,RS384,RS512,PS256,PS384,PS512,ES256,ES384,EdDSA.
const std::vector<std::string>& default_allowed_algorithms();

// Verification contexts prepared for one key (signature.cpp).
struct PreparedVerifiers;

struct Jwk {
  std::string kid;  // empty when the JWK has no kid
  KeyType kty = KeyType::rsa;
  std::string alg;  // may be empty; when set, the key is used only for it
  std::string use;  // empty or "sig"
  std::string crv;  // "P-256", "P-384", "Ed25519"; empty for RSA
  int bits = 0;     // modulus or curve size
  std::shared_ptr<EVP_PKEY> pkey;
  // Filled by verify_signature on first use and shared by copies of the
  // key, so a backend that keeps its parsed keys pays OpenSSL's context
  // set-up once per key and algorithm, not once per token.  Like the rest
  // of the core, a Jwk is used by one thread at a time.
  mutable std::shared_ptr<PreparedVerifiers> prepared;

  // True when this key may verify a token signed with alg: the algorithm is
  // known, needs this key type (and curve), and matches the key's own alg.
  bool fits_alg(std::string_view alg) const;
};

struct SkippedKey {
  std::string kid;  // sanitized for logging
  std::string why;  // short lower-case explanation, no key material
};

struct Jwks {
  std::vector<Jwk> keys;
  std::vector<SkippedKey> skipped;
};

struct JwksParseResult {
  bool ok = false;
  Jwks jwks;
  std::string error;  // set when !ok; safe to log
};

inline constexpr std::size_t kMaxJwksBytes = 1024 * 1024;
inline constexpr std::size_t kMaxJwksKeys = 100;
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 16384;

// How much checking a key gets.  OpenSSL's RSA public-key check (SP
// 800-56B) costs milliseconds per key: the worker and the jwks_file loader
// run it (full) before publishing to shared memory, and backends, which
// parse only what those published, skip it (trusted_source) so a new
// connection does not pay for it.  Every other rule applies in both modes.
enum class KeyCheck { full, trusted_source };

// Errors only when the document itself is unusable (not strict JSON, no
// "keys" array, over the limits above); bad keys land in jwks.skipped.
JwksParseResult parse_jwks(std::string_view json, KeyCheck check = KeyCheck::full);

}  // namespace dbx_oauth::core
