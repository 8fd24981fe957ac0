// Persisted JWKS file format (see persisted_keys.h).
#include "core/persisted_keys.h"

#include "core/json_limits.h"
#include "core/sha256.h"

namespace dbx_oauth::core {

std::string persisted_keys_file_name(std::string_view issuer) {
  return sha256_hex(issuer) + ".json";
}

std::string encode_persisted_keys(std::string_view issuer, std::string_view jwks_json,
                                  int64_t fetched_at_unix) {
  nlohmann::json doc = nlohmann::json::object();
  doc["format"] = kPersistedKeysFormat;
  doc["issuer"] = std::string(issuer);
  doc["fetched_at"] = fetched_at_unix;
  doc["jwks"] = nlohmann::json::parse(jwks_json);
  return doc.dump() + "\n";
}

PersistedKeys decode_persisted_keys(std::string_view text, std::string_view expected_issuer,
                                    size_t max_jwks_bytes) {
  PersistedKeys out;
  // One level more than a JWKS allows, for the wrapper object.
  JsonParseResult parsed = parse_json_strict(text, kDefaultMaxJsonDepth + 1);
  if (parsed.reason != Reason::ok) {
    out.error = "not valid JSON: " + parsed.detail;
    return out;
  }
  const nlohmann::json& doc = parsed.value;
  if (!doc.is_object()) {
    out.error = "not a JSON object";
    return out;
  }
  auto format = doc.find("format");
  if (format == doc.end() || !format->is_number_integer() || *format != kPersistedKeysFormat) {
    out.error = "unknown format";
    return out;
  }
  auto issuer = doc.find("issuer");
  if (issuer == doc.end() || !issuer->is_string() ||
      issuer->get_ref<const std::string&>() != expected_issuer) {
    out.error = "file is for a different issuer";
    return out;
  }
  auto fetched_at = doc.find("fetched_at");
  if (fetched_at == doc.end() || !fetched_at->is_number_integer()) {
    out.error = "no \"fetched_at\" integer";
    return out;
  }
  auto jwks = doc.find("jwks");
  if (jwks == doc.end() || !jwks->is_object()) {
    out.error = "no \"jwks\" object";
    return out;
  }
  out.jwks = check_jwks_document(jwks->dump(), max_jwks_bytes);
  if (!out.jwks.ok) {
    out.error = out.jwks.error;
    return out;
  }
  out.fetched_at_unix = fetched_at->get<int64_t>();
  out.ok = true;
  return out;
}

}  // namespace dbx_oauth::core
