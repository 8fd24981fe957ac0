// JWK/JWKS parsing into OpenSSL public keys (see jwk.h).
//
// Keys are built only through OpenSSL 3 provider APIs (EVP_PKEY_fromdata,
// EVP_PKEY_new_raw_public_key) and then checked with EVP_PKEY_public_check,
// so invalid curve points and malformed moduli are refused by OpenSSL's own
// validation rather than by hand-written arithmetic.
#include "core/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include <array>
#include <cstring>
#include <optional>

#include "core/base64url.h"
#include "core/json_limits.h"
#include "core/status.h"

namespace dbx_oauth::core {

namespace {

using nlohmann::json;

constexpr AlgorithmSpec kAlgorithms[] = {
    {"RS256", KeyType::rsa, SignatureScheme::rsa_pkcs1, "SHA256", nullptr, 0},
    {"RS384", KeyType::rsa, SignatureScheme::rsa_pkcs1, "SHA384", nullptr, 0},
    {"RS512", KeyType::rsa, SignatureScheme::rsa_pkcs1, "SHA512", nullptr, 0},
    {"PS256", KeyType::rsa, SignatureScheme::rsa_pss, "SHA256", nullptr, 0},
    {"PS384", KeyType::rsa, SignatureScheme::rsa_pss, "SHA384", nullptr, 0},
    {"PS512", KeyType::rsa, SignatureScheme::rsa_pss, "SHA512", nullptr, 0},
    {"ES256", KeyType::ec, SignatureScheme::ecdsa, "SHA256", "P-256", 32},
    {"ES384", KeyType::ec, SignatureScheme::ecdsa, "SHA384", "P-384", 48},
    {"EdDSA", KeyType::okp, SignatureScheme::eddsa, nullptr, "Ed25519", 0},
};

// RAII for the OpenSSL objects used while building a key.
struct BnFree { void operator()(BIGNUM* p) const { BN_free(p); } };
struct BldFree { void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); } };
struct ParamFree { void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); } };
struct CtxFree { void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); } };
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;
using BldPtr = std::unique_ptr<OSSL_PARAM_BLD, BldFree>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ParamFree>;
using CtxPtr = std::unique_ptr<EVP_PKEY_CTX, CtxFree>;

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* pkey) {
  return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

// Thrown inside this file when one key is unusable; becomes a SkippedKey.
struct Skip {
  std::string why;
};

// Optional string member: absent -> nullopt, present but not a string -> Skip.
std::optional<std::string> optional_string(const json& key, const char* name) {
  const auto it = key.find(name);
  if (it == key.end()) return std::nullopt;
  if (!it->is_string()) throw Skip{std::string("\"") + name + "\" is not a string"};
  return it->get<std::string>();
}

std::string required_base64(const json& key, const char* name) {
  const auto text = optional_string(key, name);
  if (!text) throw Skip{std::string("missing \"") + name + "\""};
  auto bytes = base64url_decode(*text);
  if (!bytes) throw Skip{std::string("\"") + name + "\" is not canonical base64url"};
  return *bytes;
}

std::string strip_leading_zeros(std::string bytes) {
  const auto first = bytes.find_first_not_of('\0');
  return first == std::string::npos ? std::string() : bytes.substr(first);
}

BnPtr to_bignum(const std::string& big_endian) {
  BnPtr bn(BN_bin2bn(reinterpret_cast<const unsigned char*>(big_endian.data()),
                     static_cast<int>(big_endian.size()), nullptr));
  if (!bn) throw std::bad_alloc();
  return bn;
}

// Builds a public key from provider parameters and runs OpenSSL's public
// key check (for EC this includes "point is on the curve, not infinity")
// unless full_check is off (see KeyCheck).
std::shared_ptr<EVP_PKEY> from_params(const char* type, OSSL_PARAM_BLD* bld, bool full_check = true) {
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld));
  CtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!params || !ctx) throw std::bad_alloc();
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1 || !raw) {
    throw Skip{"OpenSSL rejected the public key parameters"};
  }
  auto pkey = own(raw);
  if (!full_check) return pkey;
  CtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
  if (!check) throw std::bad_alloc();
  if (EVP_PKEY_public_check(check.get()) != 1) throw Skip{"public key failed validation"};
  return pkey;
}

void build_rsa(const json& key, Jwk& jwk, KeyCheck check) {
  const std::string n = strip_leading_zeros(required_base64(key, "n"));
  const std::string e = strip_leading_zeros(required_base64(key, "e"));
  BnPtr n_bn = to_bignum(n);
  const int bits = BN_num_bits(n_bn.get());
  if (bits < kMinRsaBits) {
    throw Skip{"RSA key has " + std::to_string(bits) + " bits, at least " +
               std::to_string(kMinRsaBits) + " are required"};
  }
  if (bits > kMaxRsaBits) throw Skip{"RSA key is larger than " + std::to_string(kMaxRsaBits) + " bits"};
  // A sane exponent is odd and small (65537 in practice); tiny or huge
  // exponents only appear in broken or hostile key sets.
  if (e.empty() || e.size() > 8 || (static_cast<unsigned char>(e.back()) & 1) == 0 ||
      (e.size() == 1 && static_cast<unsigned char>(e[0]) < 3)) {
    throw Skip{"RSA exponent is not acceptable"};
  }
  BnPtr e_bn = to_bignum(e);
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    throw std::bad_alloc();
  }
  jwk.pkey = from_params("RSA", bld.get(), check == KeyCheck::full);
  jwk.bits = bits;
}

void build_ec(const json& key, Jwk& jwk) {
  const auto crv = optional_string(key, "crv");
  if (!crv) throw Skip{"missing \"crv\""};
  const char* group = nullptr;
  std::size_t coord = 0;
  if (*crv == "P-256") {
    group = "prime256v1";
    coord = 32;
  } else if (*crv == "P-384") {
    group = "secp384r1";
    coord = 48;
  } else {
    throw Skip{"unsupported EC curve"};
  }
  const std::string x = required_base64(key, "x");
  const std::string y = required_base64(key, "y");
  // RFC 7518 §6.2.1.2: coordinates are exactly the field size, zero padded.
  if (x.size() != coord || y.size() != coord) throw Skip{"EC coordinates have the wrong length"};
  std::string point = "\x04" + x + y;  // SEC 1 uncompressed point
  BldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    throw std::bad_alloc();
  }
  jwk.pkey = from_params("EC", bld.get());
  jwk.crv = *crv;
  jwk.bits = static_cast<int>(coord * 8);
}

// y-coordinates (little endian, sign bit clear) of the eight points of
// small order on Ed25519.  A public key there verifies signatures for many
// messages, so such keys are refused whatever their sign bit.
constexpr std::array<std::array<unsigned char, 32>, 5> kEd25519SmallOrderY = {{
    {0x00},  // y = 0 (order 4)
    {0x01},  // y = 1, the identity
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
     0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
     0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
}};

// True when the little-endian 255-bit y is >= p = 2^255 - 19 (non-canonical).
bool ed25519_y_not_canonical(const std::array<unsigned char, 32>& y) {
  if (y[31] != 0x7f) return false;
  for (int i = 30; i >= 1; --i) {
    if (y[i] != 0xff) return false;
  }
  return y[0] >= 0xed;
}

void build_okp(const json& key, Jwk& jwk) {
  const auto crv = optional_string(key, "crv");
  if (!crv) throw Skip{"missing \"crv\""};
  if (*crv != "Ed25519") throw Skip{"unsupported OKP curve"};
  const std::string x = required_base64(key, "x");
  if (x.size() != 32) throw Skip{"Ed25519 public key is not 32 bytes"};
  std::array<unsigned char, 32> y{};
  std::memcpy(y.data(), x.data(), y.size());
  y[31] &= 0x7f;  // drop the sign bit of x
  if (ed25519_y_not_canonical(y)) throw Skip{"Ed25519 public key is not canonical"};
  for (const auto& bad : kEd25519SmallOrderY) {
    if (y == bad) throw Skip{"Ed25519 public key has small order"};
  }
  EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                              reinterpret_cast<const unsigned char*>(x.data()), x.size());
  if (!raw) throw Skip{"OpenSSL rejected the Ed25519 public key"};
  jwk.pkey = own(raw);
  jwk.crv = *crv;
  jwk.bits = 256;
}

// Members that only private or symmetric JWKs carry (RFC 7518 §6.3.2, §6.4).
constexpr const char* kPrivateMembers[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

Jwk parse_one_key(const json& key, KeyCheck check) {
  if (!key.is_object()) throw Skip{"key is not a JSON object"};
  Jwk jwk;
  jwk.kid = optional_string(key, "kid").value_or("");
  const auto kty = optional_string(key, "kty");
  if (!kty) throw Skip{"missing \"kty\""};
  if (*kty == "oct") throw Skip{"symmetric (oct) keys are never used"};
  for (const char* member : kPrivateMembers) {
    if (key.contains(member)) throw Skip{"key contains private key material"};
  }
  if (*kty == "RSA") {
    jwk.kty = KeyType::rsa;
  } else if (*kty == "EC") {
    jwk.kty = KeyType::ec;
  } else if (*kty == "OKP") {
    jwk.kty = KeyType::okp;
  } else {
    throw Skip{"unsupported kty"};
  }
  jwk.use = optional_string(key, "use").value_or("");
  if (!jwk.use.empty() && jwk.use != "sig") throw Skip{"key is not for signatures (use)"};
  if (const auto ops = key.find("key_ops"); ops != key.end()) {
    bool verify = false;
    if (ops->is_array()) {
      for (const auto& op : *ops) verify = verify || (op.is_string() && op.get<std::string>() == "verify");
    }
    if (!verify) throw Skip{"key_ops does not allow \"verify\""};
  }
  jwk.alg = optional_string(key, "alg").value_or("");
  const AlgorithmSpec* spec = nullptr;
  if (!jwk.alg.empty()) {
    spec = find_algorithm(jwk.alg);
    if (!spec) throw Skip{"key alg is not an allowed asymmetric algorithm"};
    if (spec->kty != jwk.kty) throw Skip{"key alg does not fit the key type"};
  }
  switch (jwk.kty) {
    case KeyType::rsa: build_rsa(key, jwk, check); break;
    case KeyType::ec: build_ec(key, jwk); break;
    case KeyType::okp: build_okp(key, jwk); break;
  }
  if (spec && spec->crv && jwk.crv != spec->crv) throw Skip{"key alg does not fit the key curve"};
  return jwk;
}

}  // namespace

const char* key_type_name(KeyType type) {
  switch (type) {
    case KeyType::rsa: return "RSA";
    case KeyType::ec: return "EC";
    case KeyType::okp: return "OKP";
  }
  return "unknown";
}

const AlgorithmSpec* find_algorithm(std::string_view alg) {
  for (const auto& spec : kAlgorithms) {
    if (alg == spec.name) return &spec;
  }
  return nullptr;
}

const std::vector<std::string>& default_allowed_algorithms() {
  static const std::vector<std::string> defaults = [] {
    std::vector<std::string> names;
    for (const auto& spec : kAlgorithms) names.emplace_back(spec.name);
    return names;
  }();
  return defaults;
}

bool Jwk::fits_alg(std::string_view wanted) const {
  const AlgorithmSpec* spec = find_algorithm(wanted);
  if (!spec || !pkey || spec->kty != kty) return false;
  if (spec->crv && crv != spec->crv) return false;
  return alg.empty() || alg == wanted;
}

JwksParseResult parse_jwks(std::string_view text, KeyCheck check) {
  JwksParseResult result;
  if (text.size() > kMaxJwksBytes) {
    result.error = "JWKS document is larger than " + std::to_string(kMaxJwksBytes) + " bytes";
    return result;
  }
  JsonParseResult parsed = parse_json_strict(text);
  if (parsed.reason != Reason::ok) {
    result.error = std::string("JWKS is not valid JSON: ") + parsed.detail;
    return result;
  }
  const json& doc = parsed.value;
  const auto keys = doc.is_object() ? doc.find("keys") : doc.end();
  if (!doc.is_object() || keys == doc.end() || !keys->is_array()) {
    result.error = "JWKS has no \"keys\" array";
    return result;
  }
  if (keys->size() > kMaxJwksKeys) {
    result.error = "JWKS has more than " + std::to_string(kMaxJwksKeys) + " keys";
    return result;
  }
  for (const json& key : *keys) {
    try {
      result.jwks.keys.push_back(parse_one_key(key, check));
    } catch (const Skip& skip) {
      std::string kid;
      if (key.is_object()) {
        const auto it = key.find("kid");
        if (it != key.end() && it->is_string()) kid = sanitize_for_detail(it->get<std::string>());
      }
      result.jwks.skipped.push_back({kid, skip.why});
    }
  }
  // Failed OpenSSL calls leave entries on the thread's error queue; the
  // PostgreSQL backend's own TLS code reads that queue, so leave it empty.
  ERR_clear_error();
  result.ok = true;
  return result;
}

}  // namespace dbx_oauth::core
