// Workspace SCIM API (RFC 7643/7644, Databricks /api/2.0/preview/scim/v2)
// as the identity-sync worker reads it: URLs, ListResponse pages, paging,
// and member resources.  Pure logic, no network.
//
// How a group's members become identities (what the login hook compares
// with a token's sub):
//   1. GET /Groups?filter=displayName eq "<name>" (paged with startIndex /
//      count), keep the group whose displayName equals the role name byte
//      for byte (SCIM filters compare case-insensitively, so "Analysts"
//      and "analysts" both match);
//   2. each member's "$ref" (Users/<id>, ServicePrincipals/<id>,
//      Groups/<id>) says its kind; its "display" is a display name an
//      admin can set freely, so it is never trusted as an identity;
//   3. users are resolved with GET /Users/<id> (identity = userName, the
//      email), service principals with GET /ServicePrincipals/<id>
//      (identity = applicationId), nested groups with GET /Groups/<id>
//      (their members are expanded, depth-limited, cycles ignored).
//      Inactive users and service principals are left out.  The worker
//      caches resolutions by id, so only new members cost a request.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dbx_oauth::core {

inline constexpr const char* kScimPath = "/api/2.0/preview/scim/v2";
// Resources asked for per page (the server may return fewer).
inline constexpr int kScimPageSize = 100;
// A group search never needs more pages than this (a filter on
// displayName matches a handful of groups).
inline constexpr int kScimMaxPages = 50;
// Nested groups are expanded this deep (the named group is depth 0).
inline constexpr int kScimMaxNestingDepth = 5;
inline constexpr int kScimMaxDepth = 16;  // JSON nesting

enum class ScimMemberKind { user, service_principal, group, unknown };

struct ScimMember {
  std::string id;       // "value"
  ScimMemberKind kind = ScimMemberKind::unknown;
};

struct ScimGroup {
  std::string id;
  std::string display_name;
  std::vector<ScimMember> members;
  // The answer had a "members" attribute (an array, possibly empty).  A
  // caller without permission to read members gets none at all: see
  // scim_members_hidden().
  bool members_listed = false;
};

struct ScimListPage {
  bool ok = false;
  std::vector<ScimGroup> groups;  // Resources
  int64_t total_results = 0;
  int64_t start_index = 1;        // as answered (1 when absent)
  int64_t items = 0;              // Resources actually on this page
  std::string error;              // safe to log: never echoes the body
};

// https://<issuer host>/api/2.0/preview/scim/v2 (scheme, host and port of
// the issuer; its path is dropped).  nullopt when the issuer is no URL.
std::optional<std::string> scim_base_url(std::string_view issuer);

// A SCIM filter string literal (RFC 7644 §3.4.2.2: JSON string rules):
// quotes, backslashes and control characters escaped.
std::string scim_quote(std::string_view value);

// Percent-encoding of a query parameter value (RFC 3986: only unreserved
// characters kept; space is %20).
std::string percent_encode(std::string_view value);

// <base>/Groups?filter=displayName%20eq%20%22...%22&attributes=...&startIndex=N&count=M
std::string scim_groups_page_url(std::string_view base, std::string_view group_name, int64_t start_index,
                                 int count = kScimPageSize);

// <base>/<Users|ServicePrincipals|Groups>/<percent-encoded id>?attributes=...
std::string scim_resource_url(std::string_view base, ScimMemberKind kind, std::string_view id);

// Parses a Groups ListResponse page.  Members whose "$ref" (or "type")
// names no known kind get kind unknown; members without a string "value"
// are an error (the page is unusable).
ScimListPage parse_scim_groups_page(std::string_view body);

// The start index of the next page, or nullopt when the listing is
// complete: no resources on this page, or every result seen.  A page that
// answers a different startIndex than asked is an error (*error set).
std::optional<int64_t> scim_next_start_index(const ScimListPage& page, int64_t asked_start, int64_t seen_so_far,
                                             std::string* error);

// The one group named exactly `name` among the pages' groups; *error when
// several are (ambiguous).  nullopt with empty *error: no such group.
std::optional<ScimGroup> scim_select_group(const std::vector<ScimGroup>& groups, std::string_view name,
                                           std::string* error);

struct ScimIdentity {
  bool ok = false;
  bool members_listed = false;  // kind group: a "members" attribute was present
  std::string identity;  // userName or applicationId, as answered
  bool active = true;    // "active": false -> left out of memberships
  std::vector<ScimMember> members;  // for kind group: its members
  std::string error;
};

// Parses GET /Users/<id>, /ServicePrincipals/<id> or /Groups/<id>.
ScimIdentity parse_scim_resource(ScimMemberKind kind, std::string_view body);

// Users or service principals by id in one request (RFC 7644 §3.4.2.2
// filter `id eq "a" or id eq "b" ...`, which the Databricks SCIM API
// supports):
// <base>/<Users|ServicePrincipals>?filter=...&attributes=id,<identity>,active&startIndex=N&count=M
std::string scim_bulk_resolve_url(std::string_view base, ScimMemberKind kind, const std::vector<std::string>& ids,
                                  int64_t start_index, int count);

struct ScimResolvePage {
  bool ok = false;
  std::vector<std::pair<std::string, ScimIdentity>> resources;  // (id, resource)
  int64_t total_results = 0;
  int64_t start_index = 1;
  int64_t items = 0;
  std::string error;
};

// Parses the ListResponse of scim_bulk_resolve_url (each resource as
// parse_scim_resource does, plus its "id").
ScimResolvePage parse_scim_resolve_page(ScimMemberKind kind, std::string_view body);
// Paging as for group pages.
std::optional<int64_t> scim_next_start_index(const ScimResolvePage& page, int64_t asked_start, int64_t seen_so_far,
                                             std::string* error);

// A group resource fetched WITHOUT an attributes parameter that carries
// nothing but id, displayName (and schemas): the caller is not allowed to
// see the group's details (Databricks shows non-admin callers only id and
// displayName), so a missing "members" means "not visible", not "empty".
bool scim_members_hidden(std::string_view full_group_body);

// <base>/Groups/<id> with no attributes parameter (for scim_members_hidden).
std::string scim_group_probe_url(std::string_view base, std::string_view id);

// The error text for a non-200 SCIM answer: status, scimType and a short,
// sanitised "detail" (never a header or a token).
std::string scim_error_text(long http_status, std::string_view body);

// Identity form stored and compared: ASCII lower case (emails and UUIDs
// both compare case-insensitively).
std::string fold_member_identity(std::string_view identity);

const char* scim_member_kind_path(ScimMemberKind kind);

}  // namespace dbx_oauth::core
