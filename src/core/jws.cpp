// JWS compact parsing and JOSE header checks (see jws.h).
#include "core/jws.h"

#include <algorithm>
#include <cctype>

#include "core/base64url.h"
#include "core/json_reader.h"
#include "core/jwk.h"

namespace dbx_oauth::core {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// RFC 7515 §4.1.9: "typ" is a media type, compared case-insensitively, and
// the "application/" prefix may be left out.  RFC 9068 uses "at+jwt".
bool acceptable_typ(std::string_view typ) {
  constexpr std::string_view kPrefix = "application/";
  if (typ.size() > kPrefix.size() && iequals(typ.substr(0, kPrefix.size()), kPrefix)) {
    typ.remove_prefix(kPrefix.size());
  }
  return iequals(typ, "jwt") || iequals(typ, "at+jwt");
}

}  // namespace

Reason split_compact_jws(std::string_view token, CompactJws& out, std::string& detail) {
  if (token.size() > kMaxTokenBytes) {
    detail = "token is " + std::to_string(token.size()) + " bytes, the limit is " +
             std::to_string(kMaxTokenBytes);
    return Reason::token_too_large;
  }
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    detail = "token does not have exactly three segments";
    return Reason::malformed;
  }
  const std::string_view header = token.substr(0, first);
  const std::string_view payload = token.substr(first + 1, second - first - 1);
  const std::string_view signature = token.substr(second + 1);
  if (header.empty() || payload.empty()) {
    detail = "token has an empty header or payload segment";
    return Reason::malformed;
  }
  // Decoded in place: a CompactJws reused for the next token keeps its
  // buffers, so a warm split allocates nothing.
  const char* bad = !base64url_decode_into(header, out.header_text)       ? "header segment"
                    : !base64url_decode_into(payload, out.payload_text)   ? "payload segment"
                    : !base64url_decode_into(signature, out.signature)    ? "signature segment"
                                                                          : nullptr;
  if (bad != nullptr) {
    out = CompactJws{};
    detail = std::string(bad) + " is not canonical base64url";
    return Reason::bad_base64;
  }
  out.signing_input = token.substr(0, second);
  return Reason::ok;
}

bool algorithm_allowed(std::string_view alg, const std::vector<std::string>& allowed) {
  // find_algorithm knows only asymmetric algorithms, so a configured
  // "none" or "HS256" can never match.
  if (!find_algorithm(alg)) return false;
  return std::find(allowed.begin(), allowed.end(), alg) != allowed.end();
}

Reason parse_jose_header(std::string_view header_text, const std::vector<std::string>& allowed,
                         JoseHeader& out, std::string& detail) {
  // Only the top-level members are read, so the header is scanned, not
  // built; the scan applies every rule of the strict parse (json_reader.h).
  // One scan per thread, reused: warm, it allocates nothing.
  thread_local JsonObjectScan header;
  if (scan_json_strict(header_text, header) != Reason::ok) {
    detail = "header: " + header.detail;
    return header.reason;
  }
  if (!header.is_object) {
    detail = "header is not a JSON object";
    return Reason::malformed;
  }
  const JsonValueView* alg = header.find("alg");
  if (alg == nullptr || alg->kind != JsonKind::string) {
    detail = "header has no string \"alg\"";
    return Reason::malformed;
  }
  out.alg.assign(alg->string);
  if (iequals(out.alg, "none")) {
    detail = "alg \"none\" is never accepted";
    return Reason::unsupported_alg;
  }
  if (!algorithm_allowed(out.alg, allowed)) {
    detail = "alg \"" + sanitize_for_detail(out.alg, 16) + "\" is not allowed";
    return Reason::unsupported_alg;
  }
  // RFC 7515 §4.1.11: we understand no extensions, so any "crit" is fatal.
  if (header.find("crit") != nullptr) {
    detail = "header has \"crit\"";
    return Reason::crit_header;
  }
  if (const JsonValueView* typ = header.find("typ")) {
    if (typ->kind != JsonKind::string || !acceptable_typ(typ->string)) {
      detail = typ->kind == JsonKind::string ? "typ \"" + sanitize_for_detail(typ->string, 32) + "\""
                                             : std::string("typ is not a string");
      return Reason::bad_typ;
    }
  }
  out.kid.reset();
  if (const JsonValueView* kid = header.find("kid")) {
    if (kid->kind != JsonKind::string) {
      detail = "kid is not a string";
      return Reason::malformed;
    }
    out.kid.emplace(kid->string);
  }
  return Reason::ok;
}

}  // namespace dbx_oauth::core
