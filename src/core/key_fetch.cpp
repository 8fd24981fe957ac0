// Discovery + JWKS fetch pipeline (see key_fetch.h).
#include "core/key_fetch.h"

#include "core/discovery.h"
#include "core/json_limits.h"

#include <chrono>
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

// ---- HTTP-date ----------------------------------------------------------

constexpr std::string_view kDayNames[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::string_view kLongDayNames[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                              "Friday", "Saturday", "Sunday"};
constexpr std::string_view kMonthNames[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Reads an HTTP-date left to right; literal, digits and name consume input
// only when they match.
class DateReader {
 public:
  explicit DateReader(std::string_view text) : rest_(text) {}

  bool literal(std::string_view lit) {
    if (rest_.substr(0, lit.size()) != lit) return false;
    rest_.remove_prefix(lit.size());
    return true;
  }

  // Exactly n ASCII digits.
  bool digits(size_t n, int* out) {
    if (rest_.size() < n) return false;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
      if (rest_[i] < '0' || rest_[i] > '9') return false;
      v = v * 10 + (rest_[i] - '0');
    }
    rest_.remove_prefix(n);
    *out = v;
    return true;
  }

  // One of names (index into *out); no name is a prefix of another.
  template <size_t N>
  bool name(const std::string_view (&names)[N], int* out) {
    for (size_t i = 0; i < N; i++) {
      if (literal(names[i])) {
        *out = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }

  // hour ":" minute ":" second, two digits each.
  bool time_of_day(int* h, int* m, int* s) {
    return digits(2, h) && literal(":") && digits(2, m) && literal(":") && digits(2, s);
  }

  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int month0) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month0 == 1 && is_leap(y) ? 29 : kDays[month0];
}

// Days from 1970-01-01 to a proleptic Gregorian date (month 1-12).
int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::optional<int64_t> to_unix(int year, int month0, int day, int h, int m, int s) {
  // Second 60 is a leap second (RFC 5322 allows it); it counts as :00 of the next minute.
  if (day < 1 || day > days_in_month(year, month0) || h > 23 || m > 59 || s > 60)
    return std::nullopt;
  return days_from_civil(year, month0 + 1, day) * 86400 + h * 3600 + m * 60 + s;
}

std::string_view trim_blanks(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

int64_t unix_now() {
  using std::chrono::seconds;
  return std::chrono::duration_cast<seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// GET that also records the clock sample of a 200 response, taking the
// local time as soon as the response is complete.
HttpResponse sampled_get(const std::string& url, const HttpOptions& http, KeyFetchResult* out) {
  HttpResponse response = http_get(url, http);
  const int64_t received = unix_now();
  if (response.ok && response.status == 200) {
    out->clock_sampled = true;
    out->clock_offset_s = clock_offset_seconds(response.date, received);
  }
  return response;
}

}  // namespace

std::optional<int64_t> parse_http_date(std::string_view value) {
  const std::string_view text = trim_blanks(value);
  int wday = 0, day = 0, month0 = 0, year = 0, h = 0, m = 0, s = 0;
  {  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    DateReader r(text);
    if (r.name(kDayNames, &wday) && r.literal(", ") && r.digits(2, &day) && r.literal(" ") &&
        r.name(kMonthNames, &month0) && r.literal(" ") && r.digits(4, &year) && r.literal(" ") &&
        r.time_of_day(&h, &m, &s) && r.literal(" GMT") && r.done())
      return to_unix(year, month0, day, h, m, s);
  }
  {  // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    DateReader r(text);
    int yy = 0;
    if (r.name(kLongDayNames, &wday) && r.literal(", ") && r.digits(2, &day) && r.literal("-") &&
        r.name(kMonthNames, &month0) && r.literal("-") && r.digits(2, &yy) && r.literal(" ") &&
        r.time_of_day(&h, &m, &s) && r.literal(" GMT") && r.done())
      return to_unix(yy < 70 ? 2000 + yy : 1900 + yy, month0, day, h, m, s);
  }
  {  // asctime: Sun Nov  6 08:49:37 1994
    DateReader r(text);
    if (r.name(kDayNames, &wday) && r.literal(" ") && r.name(kMonthNames, &month0) &&
        r.literal(" ") && (r.digits(2, &day) || (r.literal(" ") && r.digits(1, &day))) &&
        r.literal(" ") && r.time_of_day(&h, &m, &s) && r.literal(" ") && r.digits(4, &year) &&
        r.done())
      return to_unix(year, month0, day, h, m, s);
  }
  return std::nullopt;
}

std::optional<int64_t> clock_offset_seconds(std::string_view date_header, int64_t received_unix_s) {
  const std::optional<int64_t> issuer = parse_http_date(date_header);
  if (!issuer) return std::nullopt;
  const int64_t offset = *issuer - received_unix_s;
  return offset >= -kClockNoiseSeconds && offset <= kClockNoiseSeconds ? 0 : offset;
}

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
      out.error += " (" + std::to_string(out.skipped.size()) +
                   " skipped, first: " + out.skipped.front().why + ")";
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
    out.error = "JWKS is " + std::to_string(out.compact_json.size()) +
                " bytes, more than the limit of " + std::to_string(max_bytes);
    out.compact_json.clear();
    return out;
  }
  out.ok = true;
  return out;
}

DiscoveryResult fetch_discovery(const std::string& issuer, bool allow_insecure_http,
                                const std::function<HttpResponse(const std::string&)>& get) {
  DiscoveryResult discovery;
  // (problem, url) per discovery URL tried, reported together on failure.
  std::vector<std::pair<std::string, std::string>> problems;
  for (const std::string& url : discovery_urls(issuer)) {
    HttpResponse response = get(url);
    if (!response.ok) {
      problems.emplace_back(response.error, "");
      break;
    }
    if (response.status != 200) {
      problems.emplace_back("HTTP status " + std::to_string(response.status), redact_url(url));
      continue;
    }
    discovery = parse_discovery(response.body, issuer, allow_insecure_http);
    if (discovery.ok) return discovery;
    problems.emplace_back(discovery.error, redact_url(url));
  }
  discovery.ok = false;
  discovery.error = "discovery failed: " + describe_problems(problems);
  return discovery;
}

KeyFetchResult fetch_issuer_keys(const std::string& issuer, const HttpOptions& http,
                                 size_t max_jwks_bytes) {
  KeyFetchResult out;
  DiscoveryResult discovery = fetch_discovery(
      issuer, http.allow_insecure_http,
      [&](const std::string& url) { return sampled_get(url, http, &out); });
  if (!discovery.ok) {
    out.error = discovery.error;
    return out;
  }

  out.jwks_uri = discovery.document.jwks_uri;
  HttpResponse response = sampled_get(out.jwks_uri, http, &out);
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
