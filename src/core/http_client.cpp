// libcurl GET with the worker's URL and size policy (see http_client.h).
#include "core/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <strings.h>

#include <memory>
#include <new>

namespace dbx_oauth::core {

namespace {

// RAII owners so every early return releases libcurl handles.
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

// One URL part as a std::string; nullopt when the part is absent.
std::optional<std::string> url_part(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return std::nullopt;
  std::string out(value);
  curl_free(value);
  return out;
}

// Parses with libcurl's own parser, so the policy sees exactly what the
// transfer will use (no parser differential between check and request).
UrlPtr parse_url(std::string_view text) {
  UrlPtr url(curl_url());
  if (!url) throw std::bad_alloc();
  std::string copy(text);
  if (curl_url_set(url.get(), CURLUPART_URL, copy.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK)
    return nullptr;
  return url;
}

struct Transfer {
  std::string body;
  std::string date;
  long retry_after_s = -1;
  size_t max_body = 0;
  bool too_large = false;
  const std::function<bool()>* should_abort = nullptr;
  bool aborted = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->body.size() + n > t->max_body) {
    t->too_large = true;
    return 0;  // makes libcurl fail the transfer with CURLE_WRITE_ERROR
  }
  try {
    t->body.append(data, n);
  } catch (...) {
    return 0;
  }
  return n;
}

// Keeps the Date header of the last response (redirect hops reset it).
size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  try {
    if (line.substr(0, 5) == "HTTP/") {
      t->date.clear();
      t->retry_after_s = -1;
    } else if (line.size() > 12 && strncasecmp(line.data(), "retry-after:", 12) == 0) {
      long v = 0;
      bool digits = false;
      for (char ch : line.substr(12)) {
        if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') continue;
        if (ch < '0' || ch > '9' || v > 86400) {
          digits = false;
          break;
        }
        v = v * 10 + (ch - '0');
        digits = true;
      }
      t->retry_after_s = digits ? v : -1;
    } else if (line.size() > 5 && strncasecmp(line.data(), "date:", 5) == 0) {
      std::string_view v = line.substr(5);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.remove_suffix(1);
      t->date.assign(v);
    }
  } catch (...) {
    return 0;
  }
  return n;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->should_abort != nullptr && *t->should_abort && (*t->should_abort)()) {
    t->aborted = true;
    return 1;
  }
  return 0;
}

}  // namespace

bool is_loopback_host(std::string_view host) {
  if (host.size() == 9 && strncasecmp(host.data(), "localhost", 9) == 0) return true;
  std::string h(host);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
    in6_addr a6{};
    return inet_pton(AF_INET6, h.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
  }
  in_addr a4{};
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  return inet_pton(AF_INET6, h.c_str(), &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

std::optional<std::string> check_url_policy(std::string_view text, bool allow_insecure_http) {
  UrlPtr url = parse_url(text);
  if (!url) return std::string("invalid URL");
  // Credentials in a URL would end up in configuration, logs and errors.
  if (url_part(url.get(), CURLUPART_USER) || url_part(url.get(), CURLUPART_PASSWORD))
    return std::string("URL must not contain credentials");
  std::optional<std::string> scheme = url_part(url.get(), CURLUPART_SCHEME);
  std::optional<std::string> host = url_part(url.get(), CURLUPART_HOST);
  if (!scheme || !host || host->empty()) return std::string("invalid URL");
  if (strcasecmp(scheme->c_str(), "https") == 0) return std::nullopt;
  if (strcasecmp(scheme->c_str(), "http") != 0)
    return "URL scheme \"" + *scheme + "\" is not allowed, use https";
  if (!allow_insecure_http) return std::string("plain http is not allowed, use https");
  if (!is_loopback_host(*host))
    return "plain http is allowed only to loopback hosts, not \"" + *host + "\"";
  return std::nullopt;
}

std::string redact_url(std::string_view text) {
  UrlPtr url = parse_url(text);
  if (!url) return "(invalid URL)";
  curl_url_set(url.get(), CURLUPART_USER, nullptr, 0);
  curl_url_set(url.get(), CURLUPART_PASSWORD, nullptr, 0);
  curl_url_set(url.get(), CURLUPART_QUERY, nullptr, 0);
  curl_url_set(url.get(), CURLUPART_FRAGMENT, nullptr, 0);
  return url_part(url.get(), CURLUPART_URL).value_or("(invalid URL)");
}

void http_global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }

HttpSession::HttpSession() = default;
HttpSession::~HttpSession() { reset(); }
void HttpSession::reset() {
  if (easy_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(easy_));
  easy_ = nullptr;
}
void* HttpSession::handle() {
  if (easy_ == nullptr) {
    easy_ = curl_easy_init();
    if (easy_ == nullptr) throw std::bad_alloc();
  }
  return easy_;
}

namespace {

// Overwrites a buffer that held a credential before it is freed.
void wipe(char* p) {
  volatile char* v = p;
  for (size_t i = 0; v[i] != '\0'; ++i) v[i] = 0;
}
void wipe(std::string& s) {
  if (!s.empty()) wipe(&s[0]);
  s.clear();
}

// One transfer for every kind of request.  With an Authorization header
// redirects are never followed (a 3xx is an error), so a credential only
// ever reaches the URL it was meant for.
HttpResponse perform(const std::string& url, const std::string* form_body, std::string authorization_header,
                     const HttpOptions& options) {
  HttpResponse out;
  const bool credentialed = !authorization_header.empty();
  if (std::optional<std::string> refusal = check_url_policy(url, options.allow_insecure_http)) {
    wipe(authorization_header);
    out.error = "refusing " + redact_url(url) + ": " + *refusal;
    return out;
  }

  std::unique_ptr<CURL, EasyDeleter> easy;
  CURL* c = nullptr;
  if (options.session != nullptr) {
    c = static_cast<CURL*>(options.session->handle());
  } else {
    easy.reset(curl_easy_init());
    if (!easy) throw std::bad_alloc();
    c = easy.get();
  }
  // A session handle must not keep pointers into this frame (headers,
  // buffers) once the call returns; its connections survive the reset.
  struct ResetAfter {
    CURL* c;
    bool on;
    ~ResetAfter() {
      if (on) curl_easy_reset(c);
    }
  } reset_after{c, options.session != nullptr};
  Transfer t;
  t.max_body = options.max_body_bytes;
  t.should_abort = &options.should_abort;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* list = curl_slist_append(nullptr, "Accept: application/json");
  std::unique_ptr<curl_slist, ListDeleter> headers(list);
  if (list == nullptr) throw std::bad_alloc();
  if (credentialed) {
    // libcurl copies the header text; our copy is wiped right away.
    curl_slist* with_auth = curl_slist_append(list, authorization_header.c_str());
    wipe(authorization_header);
    if (with_auth == nullptr) throw std::bad_alloc();
  }
  if (form_body != nullptr &&
      curl_slist_append(list, "Content-Type: application/x-www-form-urlencoded") == nullptr)
    throw std::bad_alloc();

  const long timeout = options.timeout_ms > 0 ? options.timeout_ms : 10000;
  const long connect_timeout = timeout < kMaxConnectTimeoutMs ? timeout : kMaxConnectTimeoutMs;
  const char* protocols = options.allow_insecure_http ? "http,https" : "https";

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  if (form_body != nullptr) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, form_body->c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(form_body->size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }
  // Signals belong to PostgreSQL: libcurl must never use SIGALRM.
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
  // Redirects are https-only even when the first hop was allowed http.
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, credentialed ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, options.max_redirects);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
  // Refuse early when the server announces an oversized body.
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_body_bytes));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_USERAGENT, "dbx_oauth/0.1");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // size cap applies to decoded bytes
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  const CURLcode rc = curl_easy_perform(c);
  // Wipe libcurl's copy of the Authorization header before it is freed.
  for (curl_slist* h = list; h != nullptr; h = h->next) {
    if (h->data != nullptr && strncasecmp(h->data, "Authorization:", 14) == 0) wipe(h->data);
  }
  const std::string where = redact_url(url);
  if (rc != CURLE_OK) {
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      out.error = "response from " + where + " exceeds " + std::to_string(options.max_body_bytes) + " bytes";
    } else if (t.aborted) {
      out.error = "request to " + where + " was cancelled";
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
      out.error = "request to " + where + " timed out after " + std::to_string(timeout) + " ms";
    } else if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
      out.error = "request to " + where + " refused: redirect or URL to a disallowed protocol";
    } else if (rc == CURLE_TOO_MANY_REDIRECTS) {
      out.error = "request to " + where + " followed too many redirects";
    } else {
      // errbuf carries libcurl's detail (TLS verification, DNS, ...); it
      // never includes headers, and our URLs carry no credentials.
      out.error = "request to " + where + " failed: " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    out.body.clear();
    return out;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
  if (credentialed && out.status >= 300 && out.status < 400) {
    out.error = "request to " + where + " was redirected (HTTP " + std::to_string(out.status) +
                "); credentialed requests do not follow redirects";
    return out;
  }
  out.ok = true;
  out.body = std::move(t.body);
  out.date = std::move(t.date);
  out.retry_after_s = t.retry_after_s;
  return out;
}

}  // namespace

HttpResponse http_get(const std::string& url, const HttpOptions& options) {
  return perform(url, nullptr, std::string(), options);
}

HttpResponse http_post_form(const std::string& url, const std::string& body, const std::string& authorization,
                            const HttpOptions& options) {
  return perform(url, &body, "Authorization: " + authorization, options);
}

HttpResponse http_get_bearer(const std::string& url, const std::string& token, const HttpOptions& options) {
  return perform(url, nullptr, "Authorization: Bearer " + token, options);
}

}  // namespace dbx_oauth::core
