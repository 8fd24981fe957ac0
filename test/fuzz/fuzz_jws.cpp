// libFuzzer target: JWS compact parsing, JOSE header rules and the whole
// validator (key selection and signature verification against a fixed
// public JWKS), plus the base64url canonical-form contract.
//
// Seeds (corpus/jws) are tokens minted with test/fixtures/mint against the
// keys in keys.jwks.json, at iat 1700000000, so unmutated seeds validate and
// mutations start from the accepted path.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base64url.h"
#include "core/json_limits.h"
#include "core/jwk.h"
#include "core/jws.h"
#include "core/sha256.h"
#include "core/signature.h"
#include "core/status.h"
#include "core/validator.h"
#include "fuzz_common.h"

using namespace dbx_oauth::core;

namespace {

constexpr int64_t kNow = 1700000100;  // 100 s after the seeds' iat
const char kIssuer[] = "https://adb-1234567890123456.7.azuredatabricks.net/oidc";

const Jwks* g_jwks = nullptr;

void check_base64url_contract(std::string_view text) {
  const auto decoded = base64url_decode(text);
  if (!decoded) return;
  // Strict decoding: only the canonical encoding of a byte string decodes,
  // so padded, '+'/'/' or non-zero trailing bits never reach the verifier.
  DBX_FUZZ_CHECK(base64url_encode(*decoded) == text);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string text = dbx_oauth::fuzz::read_file(dbx_oauth::fuzz::fuzz_dir() + "/keys.jwks.json");
  static JwksParseResult parsed = parse_jwks(text);
  if (!parsed.ok || parsed.jwks.keys.empty()) dbx_oauth::fuzz::invariant_failed("fixed JWKS did not load (DBX_FUZZ_DIR)");
  g_jwks = &parsed.jwks;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view token(reinterpret_cast<const char*>(data), size);

  check_base64url_contract(token.substr(0, 4096));

  CompactJws jws;
  std::string detail;
  const Reason split = split_compact_jws(token, jws, detail);
  if (split == Reason::ok) {
    DBX_FUZZ_CHECK(token.size() <= kMaxTokenBytes);
    DBX_FUZZ_CHECK(!jws.header_text.empty() && !jws.payload_text.empty());
    JoseHeader header;
    const Reason h = parse_jose_header(jws.header_text, default_allowed_algorithms(), header, detail);
    if (h == Reason::ok) {
      // Never an algorithm outside the asymmetric table, whatever its case.
      DBX_FUZZ_CHECK(find_algorithm(header.alg) != nullptr);
      // The reference parse agrees that it is an object without "crit".
      const JsonParseResult reference = parse_json_strict(jws.header_text);
      DBX_FUZZ_CHECK(reference.reason == Reason::ok && reference.value.is_object());
      DBX_FUZZ_CHECK(!reference.value.contains("crit"));
      DBX_FUZZ_CHECK(reference.value.at("alg") == header.alg);
      // Differential: a precomputed SHA-256 of the signing input (what the
      // validator verifies for RS256, PS256 and ES256) gets the answer
      // verify_signature gives when it hashes the input itself.
      if (signs_sha256_digest(header.alg)) {
        const TokenDigest input_sha256 = sha256(jws.signing_input);
        for (const Jwk& key : g_jwks->keys) {
          DBX_FUZZ_CHECK(verify_signature_sha256(header.alg, key, input_sha256, jws.signature) ==
                         verify_signature(header.alg, key, jws.signing_input, jws.signature));
        }
      }
    }
  }

  ValidationSettings settings;
  settings.issuers = {kIssuer};
  settings.audiences = {"1234567890123456"};
  const KeyLookup lookup = [](const std::string& issuer) -> const Jwks* {
    return issuer == kIssuer ? g_jwks : nullptr;
  };
  const ValidationResult result = validate_token(token, settings, lookup, kNow);
  // Differential: hashing the token inside (from the signing input's hash
  // state) and a caller's sha256(token) give the same decision and digests.
  const ValidationResult given_digest = validate_token(token, settings, lookup, kNow, sha256(token));
  DBX_FUZZ_CHECK(given_digest.reason == result.reason);
  DBX_FUZZ_CHECK(given_digest.token.fingerprint == result.token.fingerprint);
  DBX_FUZZ_CHECK(given_digest.token.revocation_key == result.token.revocation_key);
  if (result.ok()) {
    DBX_FUZZ_CHECK(split == Reason::ok);
    DBX_FUZZ_CHECK(!result.token.identity.empty());
    DBX_FUZZ_CHECK(result.token.expires_at > kNow - settings.clock_skew_seconds);
    DBX_FUZZ_CHECK(result.token.fingerprint == token_fingerprint(token));
  } else {
    DBX_FUZZ_CHECK(result.token.identity.empty());
  }
  // The detail is logged: it must never carry the token text.  (A short or
  // dot-free input can be a substring of a fixed message, so only inputs
  // shaped like a token are checked; a token can never be a substring of a
  // value decoded from itself, as the decoded text is shorter.)
  if (size >= 24 && token.find('.') != std::string_view::npos) {
    DBX_FUZZ_CHECK(result.detail.find(token) == std::string::npos);
  }
  DBX_FUZZ_CHECK(reason_name(result.reason) != nullptr);
  return 0;
}
