// Fixture keys and a small JWT minter for the core unit tests.
//
// Keys are generated once per test run (cached in statics) so no private
// key material lives in the repository.  The minter signs arbitrary header
// and payload text, which lets each negative test change exactly one thing
// relative to a valid token.
#pragma once

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>

#include "core/jwk.h"

namespace dbx_oauth::test {

struct TestKey {
  std::shared_ptr<EVP_PKEY> pkey;  // private key (public part derivable)
  core::KeyType kty;
  std::string crv;  // "P-256", "P-384", "Ed25519"; empty for RSA
};

const TestKey& rsa2048();
const TestKey& rsa2048_other();  // a second RSA key, for "signed by someone else"
const TestKey& rsa1024();        // too weak: must be skipped by parse_jwks
const TestKey& ec_p256();
const TestKey& ec_p384();
const TestKey& ed25519();

// Public JWK for key; kid/alg omitted when empty.
nlohmann::json public_jwk(const TestKey& key, const std::string& kid, const std::string& alg = "");

// JOSE signature over input (ECDSA as raw r||s).
std::string sign(const TestKey& key, const std::string& alg, std::string_view input);

// ECDSA signature in OpenSSL's native DER form (what JOSE must refuse).
std::string sign_ecdsa_der(const TestKey& key, const std::string& alg, std::string_view input);

// RSA-PSS signature with a chosen salt length (JWS requires the hash length).
std::string sign_pss_with_salt(const TestKey& key, const std::string& alg, std::string_view input,
                               int salt_length);

// HMAC-SHA256 with an arbitrary secret (for the HS256 confusion attack).
std::string hmac_sha256(std::string_view secret, std::string_view input);

// DER SubjectPublicKeyInfo of key: the "secret" an HS/RS confusion uses.
std::string public_key_der(const TestKey& key);

// base64url(header_text) + "." + base64url(payload_text) + "." + signature.
std::string mint_text(const TestKey& key, const std::string& alg, std::string_view header_text,
                      std::string_view payload_text);
std::string mint(const TestKey& key, const std::string& alg, const nlohmann::json& header,
                 const nlohmann::json& payload);

// Replaces segment index (0 header, 1 payload, 2 signature) of a compact token.
std::string replace_segment(const std::string& token, int index, const std::string& segment);
std::string segment(const std::string& token, int index);

}  // namespace dbx_oauth::test
