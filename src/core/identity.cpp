// Identity classification and role matching (see identity.h).
#include "core/identity.h"

#include <algorithm>

namespace dbx_oauth::core {

namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool ascii_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool is_control_or_space(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

}  // namespace

const char* identity_type_name(IdentityType type) {
  switch (type) {
    case IdentityType::user: return "USER";
    case IdentityType::service_principal: return "SERVICE_PRINCIPAL";
    case IdentityType::group: return "GROUP";
  }
  return "UNKNOWN";
}

std::optional<IdentityType> parse_identity_type(std::string_view text) {
  for (IdentityType type : {IdentityType::user, IdentityType::service_principal, IdentityType::group}) {
    if (ascii_iequals(text, identity_type_name(type))) return type;
  }
  return std::nullopt;
}

bool looks_like_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash_position = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_position ? text[i] != '-' : !is_hex(text[i])) return false;
  }
  return true;
}

bool looks_like_email(std::string_view text) {
  const auto at = text.find('@');
  if (at == std::string_view::npos || at == 0 || text.find('@', at + 1) != std::string_view::npos) {
    return false;
  }
  if (std::any_of(text.begin(), text.end(), is_control_or_space)) return false;
  const std::string_view domain = text.substr(at + 1);
  const auto dot = domain.find('.');
  return dot != std::string_view::npos && dot != 0 && domain.back() != '.';
}

std::string fold_identity(std::string_view id, IdentityType type) {
  std::string folded(id);
  if (type == IdentityType::user) std::transform(folded.begin(), folded.end(), folded.begin(), ascii_lower);
  return folded;
}

bool identity_matches_role(std::string_view token_identity, IdentityType type, std::string_view role_name) {
  switch (type) {
    case IdentityType::user:
      return ascii_iequals(token_identity, role_name);
    case IdentityType::service_principal:
      // The same application id may be spelled with upper- or lower-case hex.
      return token_identity == role_name ||
             (looks_like_uuid(token_identity) && looks_like_uuid(role_name) &&
              ascii_iequals(token_identity, role_name));
    case IdentityType::group:
      return token_identity == role_name;
  }
  return false;
}

std::optional<IdentityType> classify_token_identity(std::string_view identity) {
  if (identity.empty() || identity.size() > kMaxIdentityBytes) return std::nullopt;
  const bool has_control = std::any_of(identity.begin(), identity.end(), [](char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  if (has_control) return std::nullopt;
  if (identity.find('@') != std::string_view::npos) return IdentityType::user;
  if (looks_like_uuid(identity)) return IdentityType::service_principal;
  return std::nullopt;
}

}  // namespace dbx_oauth::core
