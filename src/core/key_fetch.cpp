// Discovery + JWKS fetch pipeline (see key_fetch.h).
#include "core/key_fetch.h"

#include "core/discovery.h"
#include "core/json_limits.h"

#include <utility>

namespace dbx_oauth::core {

namespace {

// A complete response that is not 200 is an error we name by status.
std::string status_error(long status, const std::string& url) {
  return "HTTP status " + std::to_string(status) + " from " + redact_url(url);
}

// "p (url)" per problem, or "p (url1, url2)" when every URL had the same one.
std::string describe_problems(const std::vector<std::pair<std::string, std::string>>& problems) {
  std::string out;
  bool same = true;
  for (const auto& p : problems) same = same && p.first == problems.front().first;
  if (same && !problems.empty()) {
    std::string urls;
    for (const auto& p : problems)
      if (!p.second.empty()) urls += (urls.empty() ? "" : ", ") + p.second;
    return problems.front().first + (urls.empty() ? "" : " (" + urls + ")");
  }
  for (const auto& p : problems) {
    if (!out.empty()) out += "; ";
    out += p.first + (p.second.empty() ? "" : " (" + p.second + ")");
  }
  return out;
}

}  // namespace

JwksCheck check_jwks_document(std::string_view json, size_t max_bytes) {
  JwksCheck out;
  JwksParseResult parsed = parse_jwks(json);
  if (!parsed.ok) {
    out.error = "invalid JWKS: " + parsed.error;
    return out;
  }
  out.skipped = std::move(parsed.jwks.skipped);
  out.key_count = static_cast<int>(parsed.jwks.keys.size());
  if (out.key_count == 0) {
    out.error = "JWKS has no usable keys";
    if (!out.skipped.empty())
      out.error += " (" + std::to_string(out.skipped.size()) + " skipped, first: " + out.skipped.front().why + ")";
    return out;
  }
  // parse_jwks accepted the text, so the strict parser does too.
  JsonParseResult doc = parse_json_strict(json);
  if (doc.reason != Reason::ok) {
    out.error = "invalid JWKS: " + doc.detail;
    return out;
  }
  // Publish only the keys that passed every check: backends re-parse the
  // published set without the costly RSA public-key check
  // (KeyCheck::trusted_source), so a key skipped here must not reach them.
  nlohmann::json usable = nlohmann::json::array();
  for (const nlohmann::json& key : doc.value["keys"]) {
    nlohmann::json single = {{"keys", nlohmann::json::array({key})}};
    if (parse_jwks(single.dump()).jwks.keys.size() == 1) usable.push_back(key);
  }
  doc.value["keys"] = std::move(usable);
  out.compact_json = doc.value.dump();
  if (out.compact_json.size() > max_bytes) {
    out.error = "JWKS is " + std::to_string(out.compact_json.size()) + " bytes, more than the limit of " +
                std::to_string(max_bytes);
    out.compact_json.clear();
    return out;
  }
  out.ok = true;
  return out;
}

KeyFetchResult fetch_issuer_keys(const std::string& issuer, const HttpOptions& http,
                                 size_t max_jwks_bytes) {
  KeyFetchResult out;
  DiscoveryResult discovery;
  // (problem, url) per discovery URL tried, reported together on failure.
  std::vector<std::pair<std::string, std::string>> problems;
  for (const std::string& url : discovery_urls(issuer)) {
    HttpResponse response = http_get(url, http);
    if (!response.ok) {
      // Transport failures (TLS, timeout, refused) would repeat on the
      // fallback URL of the same host: report instead of doubling the wait.
      problems.emplace_back(response.error, "");
      break;
    }
    if (response.status != 200) {
      problems.emplace_back("HTTP status " + std::to_string(response.status), redact_url(url));
      continue;
    }
    discovery = parse_discovery(response.body, issuer, http.allow_insecure_http);
    if (discovery.ok) break;
    problems.emplace_back(discovery.error, redact_url(url));
  }
  if (!discovery.ok) {
    out.error = "discovery failed: " + describe_problems(problems);
    return out;
  }

  out.jwks_uri = discovery.document.jwks_uri;
  HttpResponse response = http_get(out.jwks_uri, http);
  if (!response.ok) {
    out.error = "JWKS fetch failed: " + response.error;
    return out;
  }
  if (response.status != 200) {
    out.error = "JWKS fetch failed: " + status_error(response.status, out.jwks_uri);
    return out;
  }
  out.jwks = check_jwks_document(response.body, max_jwks_bytes);
  if (!out.jwks.ok) {
    out.error = out.jwks.error + " (" + redact_url(out.jwks_uri) + ")";
    return out;
  }
  out.ok = true;
  return out;
}

}  // namespace dbx_oauth::core
