// Databricks identities and how they map to PostgreSQL role names.
//
// Lakebase names roles after the user email, the service principal's
// application id (a UUID) or the group name.  Tokens carry no type, so the
// type is inferred from the shape of the identity (docs/security-model.md).
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace dbx_oauth::core {

enum class IdentityType { user, service_principal, group };

// "USER", "SERVICE_PRINCIPAL", "GROUP".
const char* identity_type_name(IdentityType type);

// Case-insensitive USER / SERVICE_PRINCIPAL / GROUP; nullopt otherwise.
std::optional<IdentityType> parse_identity_type(std::string_view text);

// 8-4-4-4-12 hexadecimal digits, either case.
bool looks_like_uuid(std::string_view text);

// Exactly one '@' with a non-empty local part and a dotted domain, and no
// whitespace or control characters.  A plausibility check, not RFC 5322.
bool looks_like_email(std::string_view text);

// Form used for comparisons: USER identities (emails) are ASCII-lowercased
// because email domains and, at Databricks, whole user names are
// case-insensitive; other identities are returned unchanged.
std::string fold_identity(std::string_view id, IdentityType type);

// Whether a token's identity may log in as role_name of the given type:
// USER compares case-insensitively (ASCII), SERVICE_PRINCIPAL compares
// UUIDs ignoring hex case, GROUP compares exactly.  Group membership itself
// is the caller's business.
bool identity_matches_role(std::string_view token_identity, IdentityType type, std::string_view role_name);

// Longest identity we accept from a token; longer ones cannot be role names.
inline constexpr std::size_t kMaxIdentityBytes = 256;

// Type of a token identity: USER when it contains '@', SERVICE_PRINCIPAL
// when UUID-shaped; nullopt when it is neither, empty, too long or holds
// control characters (tokens never name a GROUP).
std::optional<IdentityType> classify_token_identity(std::string_view identity);

}  // namespace dbx_oauth::core
