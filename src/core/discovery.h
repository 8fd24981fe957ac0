// OAuth 2.0 Authorization Server Metadata (RFC 8414) / OpenID Connect
// discovery documents: where to find an issuer's signing keys.
//
// The worker never guesses a JWKS URL: it reads jwks_uri from the
// discovery document, and only after checking that the document names
// exactly the issuer it was fetched for (RFC 8414 §3.3), so one issuer
// cannot serve keys for another.
#pragma once
#include "core/no_postgres.h"

#include <string>
#include <string_view>
#include <vector>

namespace dbx_oauth::core {

// Discovery documents are small; anything nested deeper is hostile.
inline constexpr int kMaxDiscoveryDepth = 8;

struct DiscoveryDocument {
  std::string issuer;
  std::string jwks_uri;
  std::string token_endpoint;  // empty when absent
};

struct DiscoveryResult {
  bool ok = false;
  DiscoveryDocument document;
  std::string error;  // set when !ok; safe to log (never echoes the body)
};

// URLs to try in order: <issuer>/.well-known/oauth-authorization-server,
// then <issuer>/.well-known/openid-configuration (Databricks serves both
// below the issuer path, e.g. https://host/oidc/.well-known/...).
std::vector<std::string> discovery_urls(std::string_view issuer);

// Parses a discovery document and checks it: a JSON object, "issuer" equal
// byte for byte to expected_issuer, "jwks_uri" a string URL that passes
// check_url_policy(allow_insecure_http), "token_endpoint" a string if
// present.  Unknown members are ignored.
DiscoveryResult parse_discovery(std::string_view body, std::string_view expected_issuer,
                                bool allow_insecure_http);

}  // namespace dbx_oauth::core
