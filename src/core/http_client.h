// HTTPS GET for the key-refresh worker (libcurl).
//
// Only the background worker uses this: backends never do network I/O.
// The URL policy is enforced twice: check_url_policy() before a request,
// and libcurl's protocol allow-lists for the request and every redirect, so
// a redirect can never downgrade to plain HTTP.
//
// Nothing here logs.  Error texts name the URL through redact_url() (no
// user-info, no query, no fragment) and never contain request headers; the
// client sends no credentials at all.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

// One libcurl handle kept across requests so that requests to the same
// host reuse the connection (keep-alive) and the TLS session: the identity
// sync worker makes hundreds of SCIM requests a round.  Not thread-safe;
// one per worker.
class HttpSession {
 public:
  HttpSession();
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  // Closes the connections (configuration changed, or after an error).
  void reset();
  void* handle();  // CURL*, created on first use

 private:
  void* easy_ = nullptr;
};

struct HttpOptions {
  // PEM bundle of trusted CAs; empty uses the system store.
  std::string ca_file;
  // Allow http:// URLs, but only to loopback hosts (tests, local proxies).
  bool allow_insecure_http = false;
  // Whole request, including redirects.  The connect timeout is the
  // smaller of this and kMaxConnectTimeoutMs.
  long timeout_ms = 10000;
  // Bodies larger than this abort the transfer (checked while receiving).
  size_t max_body_bytes = 1024 * 1024;
  // Redirects followed; each must stay on https.
  long max_redirects = 3;
  // Polled during the transfer; returning true aborts it (worker shutdown).
  std::function<bool()> should_abort;
  // When set, the request runs on this session's handle (connection reuse).
  HttpSession* session = nullptr;
};

inline constexpr long kMaxConnectTimeoutMs = 5000;

struct HttpResponse {
  // True when a complete response arrived (any status); false on transport
  // errors, policy refusals, oversized bodies, timeouts and aborts.
  bool ok = false;
  long status = 0;
  std::string body;
  // Value of the final response's Date header, empty when absent.
  std::string date;
  // Retry-After in seconds (RFC 9110 §10.2.3, delta-seconds form only);
  // -1 when absent or an HTTP date.
  long retry_after_s = -1;
  // Why ok is false; never contains credentials or headers.
  std::string error;
};

// The host part of an http(s) URL is a loopback name or address:
// "localhost", 127.0.0.0/8, or ::1 (bracketed in URLs).
bool is_loopback_host(std::string_view host);

// Returns why the URL may not be fetched, or nullopt when it may:
// https always; http only with allow_insecure_http and a loopback host;
// never user-info (credentials) in the URL; nothing but http(s).
std::optional<std::string> check_url_policy(std::string_view url, bool allow_insecure_http);

// The URL without user-info, query and fragment, for error texts and logs.
std::string redact_url(std::string_view url);

// Process-wide libcurl initialisation; call once before http_get (not
// thread-safe, like curl_global_init itself).
void http_global_init();

// GET url under options.  Never throws for network or policy problems
// (they are in HttpResponse::error); may throw std::bad_alloc.
HttpResponse http_get(const std::string& url, const HttpOptions& options);

// Requests that carry credentials (the identity-sync worker): the same URL
// policy, CA file, timeouts and body cap, and in addition NO redirects (a 3xx
// is an error), so a credential only ever reaches the URL it was meant for.
// The Authorization value is wiped after use and never appears in an error.
//
// POST application/x-www-form-urlencoded `body` with an Authorization header
// value ("Basic ...") — the client-credentials grant.
HttpResponse http_post_form(const std::string& url, const std::string& body, const std::string& authorization,
                            const HttpOptions& options);
// GET with "Authorization: Bearer <token>" — SCIM.
HttpResponse http_get_bearer(const std::string& url, const std::string& token, const HttpOptions& options);

}  // namespace dbx_oauth::core
