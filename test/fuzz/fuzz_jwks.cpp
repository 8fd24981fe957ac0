// libFuzzer target: JWKS documents (parse_jwks), key/algorithm fitting, key
// selection, and signature verification with every parsed key against
// hostile signatures (all zero, all 0xff, r or s = 0, the input's bytes).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/jwk.h"
#include "core/signature.h"
#include "core/status.h"
#include "core/validator.h"
#include "fuzz_common.h"

using namespace dbx_oauth::core;

namespace {

const char* const kAlgs[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                             "ES384", "ES512", "EdDSA", "none", "HS256", "rs256", ""};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const JwksParseResult parsed = parse_jwks(text);
  if (!parsed.ok) {
    DBX_FUZZ_CHECK(!parsed.error.empty());
    return 0;
  }
  DBX_FUZZ_CHECK(size <= kMaxJwksBytes);
  DBX_FUZZ_CHECK(parsed.jwks.keys.size() <= kMaxJwksKeys);

  const std::string input = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0";
  const std::string zeros(1024, '\0');
  const std::string ones(1024, '\xff');
  for (const Jwk& key : parsed.jwks.keys) {
    DBX_FUZZ_CHECK(key.pkey != nullptr);
    if (key.kty == KeyType::rsa) DBX_FUZZ_CHECK(key.bits >= kMinRsaBits && key.bits <= kMaxRsaBits);
    DBX_FUZZ_CHECK(key.use.empty() || key.use == "sig");
    for (const char* alg : kAlgs) {
      const AlgorithmSpec* spec = find_algorithm(alg);
      if (!key.fits_alg(alg)) continue;
      DBX_FUZZ_CHECK(spec != nullptr);  // none / HS* never fit any key
      DBX_FUZZ_CHECK(spec->kty == key.kty);
      std::size_t sig_len = spec->coord_bytes ? 2 * spec->coord_bytes
                            : spec->scheme == SignatureScheme::eddsa ? 64
                                                                     : static_cast<std::size_t>(key.bits + 7) / 8;
      if (sig_len > zeros.size()) sig_len = zeros.size();
      const std::string_view candidates[] = {
          std::string_view(zeros).substr(0, sig_len), std::string_view(ones).substr(0, sig_len),
          text.substr(0, sig_len), std::string_view()};
      for (std::string_view sig : candidates) {
        DBX_FUZZ_CHECK(verify_signature(alg, key, input, sig) != Reason::ok);
      }
      if (spec->coord_bytes) {
        // r = 0 with s = 1 and r = 1 with s = 0: never valid (RFC 6979 range).
        std::string rs(2 * spec->coord_bytes, '\0');
        rs[2 * spec->coord_bytes - 1] = 1;
        DBX_FUZZ_CHECK(verify_signature(alg, key, input, rs) != Reason::ok);
        rs[2 * spec->coord_bytes - 1] = 0;
        rs[spec->coord_bytes - 1] = 1;
        DBX_FUZZ_CHECK(verify_signature(alg, key, input, rs) != Reason::ok);
      }
    }
    const Jwk* selected = nullptr;
    const std::optional<std::string> kid = key.kid.empty() ? std::nullopt : std::optional<std::string>(key.kid);
    const Reason r = select_key(parsed.jwks, key.alg.empty() ? "RS256" : key.alg, kid, &selected);
    if (r == Reason::ok) {
      DBX_FUZZ_CHECK(selected != nullptr);
      if (kid) DBX_FUZZ_CHECK(selected->kid == *kid);
    } else {
      DBX_FUZZ_CHECK(selected == nullptr);
    }
  }
  return 0;
}
