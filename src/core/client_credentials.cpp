// Client-credentials grant: secret file, request, response, schedule
// (see client_credentials.h).
#include "core/client_credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/json_limits.h"

namespace dbx_oauth::core {

namespace {

bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Keeps only [A-Za-z0-9_.-], at most 64 characters: an OAuth error code
// (RFC 6749 §5.2 restricts it to printable ASCII anyway).
std::string sanitise_error_code(std::string_view code) {
  std::string out;
  for (char c : code.substr(0, 64)) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '_' ||
        c == '.' || c == '-')
      out.push_back(c);
  }
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

void wipe(std::string& secret) noexcept {
  if (!secret.empty()) {
    volatile char* p = secret.data();
    for (size_t i = 0; i < secret.size(); ++i) p[i] = 0;
  }
  secret.clear();
}

SecretFileResult read_client_secret_file(const std::string& path) {
  SecretFileResult out;
  const std::string where = "client secret file \"" + path + "\"";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    out.error = "could not open " + where + ": " + strerror(errno);
    return out;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    out.error = "could not stat " + where + ": " + strerror(errno);
    close(fd);
    return out;
  }
  if (!S_ISREG(st.st_mode)) {
    out.error = where + " is not a regular file";
    close(fd);
    return out;
  }
  if (st.st_mode & S_IROTH) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    out.error = where + " is readable by other users (mode " + mode + "); refusing to use it";
    close(fd);
    return out;
  }
  if (static_cast<size_t>(st.st_size) > kMaxSecretFileBytes) {
    out.error = where + " is larger than " + std::to_string(kMaxSecretFileBytes) + " bytes";
    close(fd);
    return out;
  }
  std::string content;
  content.reserve(kMaxSecretFileBytes + 1);
  char buf[1024];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      out.error = "could not read " + where + ": " + strerror(errno);
      break;
    }
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > kMaxSecretFileBytes) {
      out.error = where + " is larger than " + std::to_string(kMaxSecretFileBytes) + " bytes";
      break;
    }
  }
  memset(buf, 0, sizeof buf);
  close(fd);
  if (!out.error.empty()) {
    wipe(content);
    return out;
  }
  while (!content.empty() &&
         (content.back() == '\n' || content.back() == '\r' || content.back() == ' ' || content.back() == '\t'))
    content.pop_back();
  if (content.empty()) {
    out.error = where + " is empty";
    return out;
  }
  for (char c : content) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      wipe(content);
      out.error = where + " holds control characters";
      return out;
    }
  }
  out.ok = true;
  out.secret = std::move(content);
  return out;
}

std::string form_urlencode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size() * 3);
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (is_unreserved(u)) {
      out.push_back(c);
    } else if (c == ' ') {
      out.push_back('+');
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 15]);
    }
  }
  return out;
}

std::string client_credentials_form_body(std::string_view scope) {
  return "grant_type=client_credentials&scope=" + form_urlencode(scope);
}

std::string base64_encode(std::string_view bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back(alphabet[v & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out += "==";
  } else if (rest == 2) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out.push_back(alphabet[(v >> 18) & 63]);
    out.push_back(alphabet[(v >> 12) & 63]);
    out.push_back(alphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

std::string basic_authorization(std::string_view client_id, std::string_view client_secret) {
  std::string id = form_urlencode(client_id);
  std::string secret = form_urlencode(client_secret);
  std::string joined = id + ":" + secret;
  std::string out = "Basic " + base64_encode(joined);
  wipe(secret);
  wipe(joined);
  return out;
}

TokenGrant parse_token_response(long http_status, std::string_view body, int64_t now_ms) {
  TokenGrant out;
  out.obtained_at_ms = now_ms;
  JsonParseResult parsed = parse_json_strict(body, 8);
  const bool is_object = parsed.reason == Reason::ok && parsed.value.is_object();

  if (http_status != 200) {
    out.error = "token endpoint answered HTTP " + std::to_string(http_status);
    if (is_object) {
      auto err = parsed.value.find("error");
      if (err != parsed.value.end() && err->is_string()) {
        const std::string code = sanitise_error_code(err->get_ref<const std::string&>());
        if (!code.empty()) out.error += " (" + code + ")";
      }
    }
    return out;
  }
  if (!is_object) {
    out.error = "token endpoint answer is not a JSON object";
    return out;
  }
  const nlohmann::json& doc = parsed.value;
  auto tok = doc.find("access_token");
  if (tok == doc.end() || !tok->is_string() || tok->get_ref<const std::string&>().empty()) {
    out.error = "token endpoint answer has no \"access_token\" string";
    return out;
  }
  const std::string& token = tok->get_ref<const std::string&>();
  for (char c : token) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      out.error = "token endpoint answer has an access_token with invalid characters";
      return out;
    }
  }
  auto type = doc.find("token_type");
  if (type != doc.end()) {
    if (!type->is_string() || lower(type->get_ref<const std::string&>()) != "bearer") {
      out.error = "token endpoint answer has a token_type other than \"Bearer\"";
      return out;
    }
  }
  int64_t lifetime = kDefaultTokenLifetimeS;
  auto exp = doc.find("expires_in");
  if (exp != doc.end()) {
    if (exp->is_number_unsigned()) {
      const uint64_t v = exp->get<uint64_t>();
      lifetime = v > static_cast<uint64_t>(kMaxTokenLifetimeS) ? kMaxTokenLifetimeS : static_cast<int64_t>(v);
    } else if (exp->is_number_integer()) {
      lifetime = exp->get<int64_t>();
    } else {
      out.error = "token endpoint answer has a non-integer \"expires_in\"";
      return out;
    }
    if (lifetime <= 0) {
      out.error = "token endpoint answer has a non-positive \"expires_in\"";
      return out;
    }
  }
  out.ok = true;
  out.access_token = token;
  out.expires_at_ms = now_ms + lifetime * 1000;
  return out;
}

int64_t token_refresh_due_ms(int64_t obtained_at_ms, int64_t expires_at_ms) {
  const int64_t lifetime = expires_at_ms - obtained_at_ms;
  if (lifetime <= 0) return obtained_at_ms;
  // Two minutes before expiry; a token living less than that is refreshed
  // at half-life, but never sooner than kMinTokenRefreshDelayMs (no loop).
  const int64_t earliest = obtained_at_ms + std::min(lifetime / 2, kMinTokenRefreshDelayMs);
  return std::max(expires_at_ms - kTokenRefreshBufferMs, earliest);
}

bool token_usable(const TokenGrant& token, int64_t now_ms) {
  return token.ok && !token.access_token.empty() && now_ms + kTokenUseMarginMs < token.expires_at_ms;
}

std::optional<std::string> url_origin(std::string_view url) {
  const size_t colon = url.find("://");
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  const std::string scheme = lower(url.substr(0, colon));
  std::string_view rest = url.substr(colon + 3);
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  std::string host = lower(authority);
  // Default ports spelled out or not are the same origin.
  if (scheme == "https" && host.size() > 4 && host.compare(host.size() - 4, 4, ":443") == 0)
    host.resize(host.size() - 4);
  if (scheme == "http" && host.size() > 3 && host.compare(host.size() - 3, 3, ":80") == 0)
    host.resize(host.size() - 3);
  return scheme + "://" + host;
}

std::optional<std::string> check_token_endpoint(std::string_view token_endpoint, std::string_view issuer) {
  std::optional<std::string> te = url_origin(token_endpoint);
  std::optional<std::string> is = url_origin(issuer);
  if (!te) return std::string("token_endpoint is not an absolute URL");
  if (!is) return std::string("issuer is not an absolute URL");
  if (*te != *is)
    return "token_endpoint origin " + *te + " differs from the issuer's origin " + *is;
  return std::nullopt;
}

}  // namespace dbx_oauth::core
