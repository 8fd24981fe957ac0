// Fixture keys and JWT minter (see test_keys.h).
#include "test_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdexcept>
#include <vector>

#include "core/base64url.h"

namespace dbx_oauth::test {

namespace {

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* pkey) {
  if (!pkey) throw std::runtime_error("OpenSSL key generation failed");
  return std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
}

TestKey make_rsa(size_t bits) {
  return {own(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits)), core::KeyType::rsa, ""};
}

TestKey make_ec(const char* curve, const char* crv) {
  return {own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)), core::KeyType::ec, crv};
}

std::string bn_param(const TestKey& key, const char* name, int pad_to = 0) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key.pkey.get(), name, &bn) != 1) throw std::runtime_error(name);
  const int size = pad_to > 0 ? pad_to : BN_num_bytes(bn);
  std::string out(static_cast<size_t>(size), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), size);
  BN_free(bn);
  return out;
}

const char* digest_for(const std::string& alg) {
  if (alg == "EdDSA") return nullptr;
  const std::string bits = alg.substr(2);
  if (bits == "256") return "SHA256";
  if (bits == "384") return "SHA384";
  if (bits == "512") return "SHA512";
  throw std::runtime_error("unknown alg " + alg);
}

std::string sign_native(const TestKey& key, const std::string& alg, std::string_view input,
                        int pss_salt_length = RSA_PSS_SALTLEN_DIGEST) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  const char* digest = digest_for(alg);
  if (EVP_DigestSignInit_ex(ctx.get(), &pctx, digest, nullptr, nullptr, key.pkey.get(), nullptr) != 1) {
    throw std::runtime_error("EVP_DigestSignInit_ex");
  }
  if (alg[0] == 'P') {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, digest, nullptr);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_salt_length);
  }
  size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) != 1) {
    throw std::runtime_error("EVP_DigestSign length");
  }
  std::string sig(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &length, data, input.size()) != 1) {
    throw std::runtime_error("EVP_DigestSign");
  }
  sig.resize(length);
  return sig;
}

}  // namespace

const TestKey& rsa2048() {
  static const TestKey key = make_rsa(2048);
  return key;
}
const TestKey& rsa2048_other() {
  static const TestKey key = make_rsa(2048);
  return key;
}
const TestKey& rsa1024() {
  static const TestKey key = make_rsa(1024);
  return key;
}
const TestKey& ec_p256() {
  static const TestKey key = make_ec("P-256", "P-256");
  return key;
}
const TestKey& ec_p384() {
  static const TestKey key = make_ec("P-384", "P-384");
  return key;
}
const TestKey& ed25519() {
  static const TestKey key{own(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")), core::KeyType::okp, "Ed25519"};
  return key;
}

nlohmann::json public_jwk(const TestKey& key, const std::string& kid, const std::string& alg) {
  nlohmann::json jwk;
  switch (key.kty) {
    case core::KeyType::rsa:
      jwk["kty"] = "RSA";
      jwk["n"] = core::base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N));
      jwk["e"] = core::base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E));
      break;
    case core::KeyType::ec: {
      const int coord = key.crv == "P-256" ? 32 : 48;
      jwk["kty"] = "EC";
      jwk["crv"] = key.crv;
      jwk["x"] = core::base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, coord));
      jwk["y"] = core::base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, coord));
      break;
    }
    case core::KeyType::okp: {
      std::string raw(32, '\0');
      size_t length = raw.size();
      EVP_PKEY_get_raw_public_key(key.pkey.get(), reinterpret_cast<unsigned char*>(raw.data()), &length);
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = core::base64url_encode(raw);
      break;
    }
  }
  if (!kid.empty()) jwk["kid"] = kid;
  if (!alg.empty()) jwk["alg"] = alg;
  return jwk;
}

std::string sign_ecdsa_der(const TestKey& key, const std::string& alg, std::string_view input) {
  return sign_native(key, alg, input);
}

std::string sign_pss_with_salt(const TestKey& key, const std::string& alg, std::string_view input,
                               int salt_length) {
  return sign_native(key, alg, input, salt_length);
}

std::string sign(const TestKey& key, const std::string& alg, std::string_view input) {
  std::string sig = sign_native(key, alg, input);
  if (key.kty != core::KeyType::ec) return sig;
  // DER -> JOSE raw r||s, each zero-padded to the coordinate size.
  const int coord = key.crv == "P-256" ? 32 : 48;
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> parsed(
      d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size())), ECDSA_SIG_free);
  if (!parsed) throw std::runtime_error("d2i_ECDSA_SIG");
  std::string raw(static_cast<size_t>(2 * coord), '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(parsed.get()), out, coord);
  BN_bn2binpad(ECDSA_SIG_get0_s(parsed.get()), out + coord, coord);
  return raw;
}

std::string hmac_sha256(std::string_view secret, std::string_view input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  size_t length = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
                 reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, sizeof(mac),
                 &length)) {
    throw std::runtime_error("EVP_Q_mac");
  }
  return std::string(reinterpret_cast<const char*>(mac), length);
}

std::string public_key_der(const TestKey& key) {
  unsigned char* der = nullptr;
  const int length = i2d_PUBKEY(key.pkey.get(), &der);
  if (length <= 0) throw std::runtime_error("i2d_PUBKEY");
  std::string out(reinterpret_cast<const char*>(der), static_cast<size_t>(length));
  OPENSSL_free(der);
  return out;
}

std::string mint_text(const TestKey& key, const std::string& alg, std::string_view header_text,
                      std::string_view payload_text) {
  const std::string input = core::base64url_encode(header_text) + "." + core::base64url_encode(payload_text);
  return input + "." + core::base64url_encode(sign(key, alg, input));
}

std::string mint(const TestKey& key, const std::string& alg, const nlohmann::json& header,
                 const nlohmann::json& payload) {
  return mint_text(key, alg, header.dump(), payload.dump());
}

std::string segment(const std::string& token, int index) {
  size_t start = 0;
  for (int i = 0; i < index; ++i) start = token.find('.', start) + 1;
  const size_t end = token.find('.', start);
  return token.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::string replace_segment(const std::string& token, int index, const std::string& replacement) {
  std::vector<std::string> parts = {segment(token, 0), segment(token, 1), segment(token, 2)};
  parts[static_cast<size_t>(index)] = replacement;
  return parts[0] + "." + parts[1] + "." + parts[2];
}

}  // namespace dbx_oauth::test
