// Discovery document parsing and checks (see discovery.h).
#include "core/discovery.h"

#include "core/http_client.h"
#include "core/json_limits.h"

namespace dbx_oauth::core {

namespace {

// Quotes a value for an error text, cut short so a hostile document
// cannot flood the log.
std::string quote_for_error(std::string_view value) {
  constexpr size_t kMax = 200;
  std::string out = "\"";
  for (char c : value.substr(0, kMax)) out.push_back(static_cast<unsigned char>(c) < 0x20 ? '?' : c);
  if (value.size() > kMax) out += "...";
  return out + "\"";
}

}  // namespace

std::vector<std::string> discovery_urls(std::string_view issuer) {
  std::string base(issuer);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return {base + "/.well-known/oauth-authorization-server",
          base + "/.well-known/openid-configuration"};
}

DiscoveryResult parse_discovery(std::string_view body, std::string_view expected_issuer,
                                bool allow_insecure_http) {
  DiscoveryResult out;
  JsonParseResult parsed = parse_json_strict(body, kMaxDiscoveryDepth);
  if (parsed.reason != Reason::ok) {
    out.error = "discovery document is not valid JSON: " + parsed.detail;
    return out;
  }
  const nlohmann::json& doc = parsed.value;
  if (!doc.is_object()) {
    out.error = "discovery document is not a JSON object";
    return out;
  }

  auto issuer = doc.find("issuer");
  if (issuer == doc.end() || !issuer->is_string()) {
    out.error = "discovery document has no \"issuer\" string";
    return out;
  }
  const std::string& named = issuer->get_ref<const std::string&>();
  // Exact comparison: no case folding, no trailing-slash normalisation.
  if (named != expected_issuer) {
    out.error = "discovery document names issuer " + quote_for_error(named) + ", expected " +
                quote_for_error(expected_issuer);
    return out;
  }

  auto jwks_uri = doc.find("jwks_uri");
  if (jwks_uri == doc.end() || !jwks_uri->is_string()) {
    out.error = "discovery document has no \"jwks_uri\" string";
    return out;
  }
  const std::string& uri = jwks_uri->get_ref<const std::string&>();
  if (std::optional<std::string> refusal = check_url_policy(uri, allow_insecure_http)) {
    out.error = "jwks_uri " + quote_for_error(redact_url(uri)) + " refused: " + *refusal;
    return out;
  }

  auto token_endpoint = doc.find("token_endpoint");
  if (token_endpoint != doc.end()) {
    if (!token_endpoint->is_string()) {
      out.error = "discovery document has a non-string \"token_endpoint\"";
      return out;
    }
    out.document.token_endpoint = token_endpoint->get<std::string>();
  }

  out.document.issuer = named;
  out.document.jwks_uri = uri;
  out.ok = true;
  return out;
}

}  // namespace dbx_oauth::core
