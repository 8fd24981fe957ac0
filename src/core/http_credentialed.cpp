// Credentialed HTTP requests (see http_credentialed.h).
#include "core/http_credentialed.h"

#include <curl/curl.h>
#include <strings.h>

#include <functional>

#include <memory>
#include <new>

#include "core/client_credentials.h"

namespace dbx_oauth::core {

namespace {

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct ListDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Transfer {
  std::string body;
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
    return 0;
  }
  try {
    t->body.append(data, n);
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

HttpResponse perform(const std::string& url, const std::string* form_body, std::string authorization_header,
                     const HttpOptions& options) {
  HttpResponse out;
  if (std::optional<std::string> refusal = check_url_policy(url, options.allow_insecure_http)) {
    wipe(authorization_header);
    out.error = "refusing " + redact_url(url) + ": " + *refusal;
    return out;
  }
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) throw std::bad_alloc();
  CURL* c = easy.get();
  Transfer t;
  t.max_body = options.max_body_bytes;
  t.should_abort = &options.should_abort;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* list = curl_slist_append(nullptr, "Accept: application/json");
  std::unique_ptr<curl_slist, ListDeleter> headers(list);
  if (list == nullptr) throw std::bad_alloc();
  // libcurl copies the header text; our copy is wiped right after.
  curl_slist* with_auth = curl_slist_append(list, authorization_header.c_str());
  wipe(authorization_header);
  if (with_auth == nullptr) throw std::bad_alloc();
  if (form_body != nullptr) {
    if (curl_slist_append(list, "Content-Type: application/x-www-form-urlencoded") == nullptr)
      throw std::bad_alloc();
  }

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
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols);
  // Credentials go to this URL only: no redirects at all.
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_body_bytes));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "dbx_oauth/0.1");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

  const CURLcode rc = curl_easy_perform(c);
  // Wipe libcurl's copy of the Authorization header before freeing it.
  for (curl_slist* h = list; h != nullptr; h = h->next) {
    if (h->data != nullptr && strncasecmp(h->data, "Authorization:", 14) == 0) {
      volatile char* p = h->data;
      for (size_t i = 0; p[i] != '\0'; ++i) p[i] = 0;
    }
  }
  const std::string where = redact_url(url);
  if (rc != CURLE_OK) {
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED)
      out.error = "response from " + where + " exceeds " + std::to_string(options.max_body_bytes) + " bytes";
    else if (t.aborted)
      out.error = "request to " + where + " was cancelled";
    else if (rc == CURLE_OPERATION_TIMEDOUT)
      out.error = "request to " + where + " timed out after " + std::to_string(timeout) + " ms";
    else
      out.error = "request to " + where + " failed: " + (errbuf[0] ? errbuf : curl_easy_strerror(rc));
    out.body.clear();
    return out;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
  if (out.status >= 300 && out.status < 400) {
    out.error = "request to " + where + " was redirected (HTTP " + std::to_string(out.status) +
                "); credentialed requests do not follow redirects";
    out.body.clear();
    return out;
  }
  out.ok = true;
  out.body = std::move(t.body);
  return out;
}

}  // namespace

HttpResponse http_post_form(const std::string& url, const std::string& body, const std::string& authorization,
                            const HttpOptions& options) {
  return perform(url, &body, "Authorization: " + authorization, options);
}

HttpResponse http_get_bearer(const std::string& url, const std::string& token, const HttpOptions& options) {
  return perform(url, nullptr, "Authorization: Bearer " + token, options);
}

}  // namespace dbx_oauth::core
