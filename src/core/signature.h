// JWS signature verification with OpenSSL 3 EVP (RFC 7518 §3, RFC 8037).
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>

#include "core/jwk.h"
#include "core/sha256.h"
#include "core/status.h"

namespace dbx_oauth::core {

// Verifies signature (raw bytes, already base64url-decoded) over
// signing_input ("<header b64>.<payload b64>") with key.
//   ok               signature valid
//   unsupported_alg  alg is not one of RS*, PS*, ES256, ES384, EdDSA
//   key_alg_mismatch key cannot be used for alg (type, curve, or key "alg")
//   bad_signature    anything else, including ECDSA signatures that are not
//                    raw r||s of exactly 2 * coordinate size, r or s == 0 or
//                    >= the group order, and RSA signatures of wrong length
Reason verify_signature(std::string_view alg, const Jwk& key, std::string_view signing_input,
                        std::string_view signature);

// True for the algorithms whose signature covers sha256(signing input):
// RS256, PS256 and ES256.
bool signs_sha256_digest(std::string_view alg);

// verify_signature for a caller that has hashed the signing input already
// (see Sha256Prefix): the same checks and results, given
// sha256(signing_input) instead of the input.  unsupported_alg for every
// alg for which signs_sha256_digest is false.
Reason verify_signature_sha256(std::string_view alg, const Jwk& key, const TokenDigest& signing_input_sha256,
                               std::string_view signature);

// Converts a JOSE ECDSA signature (raw big-endian r||s, each coord_bytes) to
// the DER form OpenSSL verifies.  Returns empty when the length is wrong or
// r or s is zero or not below the order of the curve with that coordinate
// size (P-256 for 32, P-384 for 48).
std::string ecdsa_raw_to_der(std::string_view raw, std::size_t coord_bytes);

}  // namespace dbx_oauth::core
