// SCIM URLs, pages and resources (see scim.h).
#include "core/scim.h"

#include <cstdio>

#include "core/client_credentials.h"
#include "core/json_limits.h"

namespace dbx_oauth::core {

namespace {

using nlohmann::json;

// Printable, at most max bytes, for error texts.
std::string printable(std::string_view s, size_t max = 160) {
  std::string out;
  for (char c : s.substr(0, max)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (s.size() > max) out += "...";
  return out;
}

const std::string* string_member(const json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return nullptr;
  return &it->get_ref<const std::string&>();
}

// Integer member; absent -> fallback; present but not an integer -> nullopt.
std::optional<int64_t> int_member(const json& obj, const char* name, int64_t fallback) {
  auto it = obj.find(name);
  if (it == obj.end()) return fallback;
  if (it->is_number_integer()) return it->get<int64_t>();
  // Some servers send numbers as strings.
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    if (s.empty() || s.size() > 12) return std::nullopt;
    int64_t v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + (c - '0');
    }
    return v;
  }
  return std::nullopt;
}

ScimMemberKind kind_of(const json& member) {
  const std::string* ref = string_member(member, "$ref");
  if (ref != nullptr) {
    // "$ref" may be relative ("Users/1") or absolute (".../scim/v2/Users/1").
    const std::string& r = *ref;
    auto has = [&](const char* seg) {
      const std::string needle = std::string(seg) + "/";
      return r.compare(0, needle.size(), needle) == 0 || r.find("/" + needle) != std::string::npos;
    };
    if (has("Users")) return ScimMemberKind::user;
    if (has("ServicePrincipals")) return ScimMemberKind::service_principal;
    if (has("Groups")) return ScimMemberKind::group;
  }
  const std::string* type = string_member(member, "type");
  if (type != nullptr) {
    std::string t = fold_member_identity(*type);
    if (t == "user") return ScimMemberKind::user;
    if (t == "serviceprincipal" || t == "service_principal") return ScimMemberKind::service_principal;
    if (t == "group") return ScimMemberKind::group;
  }
  return ScimMemberKind::unknown;
}

bool parse_members(const json& obj, std::vector<ScimMember>* out, std::string* error, bool* listed = nullptr) {
  auto it = obj.find("members");
  if (it == obj.end() || it->is_null()) return true;
  if (listed != nullptr) *listed = true;
  if (!it->is_array()) {
    *error = "\"members\" is not an array";
    return false;
  }
  for (const json& m : *it) {
    if (!m.is_object()) {
      *error = "a member is not an object";
      return false;
    }
    const std::string* value = string_member(m, "value");
    if (value == nullptr || value->empty()) {
      *error = "a member has no \"value\" string";
      return false;
    }
    out->push_back(ScimMember{*value, kind_of(m)});
  }
  return true;
}

}  // namespace

namespace {

ScimIdentity resource_from_json(ScimMemberKind kind, const json& doc) {
  ScimIdentity out;
  auto active = doc.find("active");
  if (active != doc.end() && !active->is_null()) {
    if (!active->is_boolean()) {
      out.error = "SCIM resource has a non-boolean \"active\"";
      return out;
    }
    out.active = active->get<bool>();
  }
  if (kind == ScimMemberKind::group) {
    if (!parse_members(doc, &out.members, &out.error, &out.members_listed)) return out;
    out.ok = true;
    return out;
  }
  const char* field = kind == ScimMemberKind::service_principal ? "applicationId" : "userName";
  const std::string* id = string_member(doc, field);
  if (id == nullptr || id->empty()) {
    out.error = std::string("SCIM resource has no \"") + field + "\" string";
    return out;
  }
  for (char c : *id) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out.error = std::string("SCIM resource has a \"") + field + "\" with control characters";
      return out;
    }
  }
  if (id->size() > 256) {
    out.error = std::string("SCIM resource has a \"") + field + "\" longer than 256 bytes";
    return out;
  }
  out.identity = *id;
  out.ok = true;
  return out;
}

// The ListResponse envelope: totalResults, startIndex, Resources.
const json* list_envelope(const json& doc, int64_t* total_out, int64_t* start_out, std::string* error) {
  if (!doc.is_object()) {
    *error = "SCIM answer is not a JSON object";
    return nullptr;
  }
  std::optional<int64_t> total = int_member(doc, "totalResults", -1);
  std::optional<int64_t> start = int_member(doc, "startIndex", 1);
  if (!total || *total < 0) {
    *error = "SCIM list answer has no valid \"totalResults\"";
    return nullptr;
  }
  if (!start || *start < 1) {
    *error = "SCIM list answer has an invalid \"startIndex\"";
    return nullptr;
  }
  *total_out = *total;
  *start_out = *start;
  static const json kEmpty = json::array();
  auto res = doc.find("Resources");
  if (res == doc.end() || res->is_null()) return &kEmpty;
  if (!res->is_array()) {
    *error = "SCIM list answer has a non-array \"Resources\"";
    return nullptr;
  }
  return &*res;
}

}  // namespace

const char* scim_member_kind_path(ScimMemberKind kind) {
  switch (kind) {
    case ScimMemberKind::user:
      return "Users";
    case ScimMemberKind::service_principal:
      return "ServicePrincipals";
    case ScimMemberKind::group:
      return "Groups";
    case ScimMemberKind::unknown:
      break;
  }
  return "Users";
}

std::string fold_member_identity(std::string_view identity) {
  std::string out(identity);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::optional<std::string> scim_base_url(std::string_view issuer) {
  std::optional<std::string> origin = url_origin(issuer);
  if (!origin) return std::nullopt;
  return *origin + kScimPath;
}

std::string scim_quote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (u < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

std::string percent_encode(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 15]);
    }
  }
  return out;
}

std::string scim_groups_page_url(std::string_view base, std::string_view group_name, int64_t start_index,
                                 int count) {
  std::string url(base);
  url += "/Groups?filter=" + percent_encode("displayName eq " + scim_quote(group_name));
  url += "&attributes=" + percent_encode("id,displayName,members");
  url += "&startIndex=" + std::to_string(start_index);
  url += "&count=" + std::to_string(count);
  return url;
}

std::string scim_resource_url(std::string_view base, ScimMemberKind kind, std::string_view id) {
  std::string url(base);
  url += "/";
  url += scim_member_kind_path(kind);
  url += "/" + percent_encode(id) + "?attributes=";
  switch (kind) {
    case ScimMemberKind::service_principal:
      url += percent_encode("applicationId,active");
      break;
    case ScimMemberKind::group:
      url += percent_encode("id,displayName,members");
      break;
    default:
      url += percent_encode("userName,active");
      break;
  }
  return url;
}

ScimListPage parse_scim_groups_page(std::string_view body) {
  ScimListPage out;
  JsonParseResult parsed = parse_json_strict(body, kScimMaxDepth);
  if (parsed.reason != Reason::ok) {
    out.error = "SCIM answer is not valid JSON: " + parsed.detail;
    return out;
  }
  const json* res = list_envelope(parsed.value, &out.total_results, &out.start_index, &out.error);
  if (res == nullptr) return out;
  {
    for (const json& r : *res) {
      if (!r.is_object()) {
        out.error = "SCIM list answer has a non-object resource";
        return out;
      }
      ScimGroup g;
      const std::string* id = string_member(r, "id");
      const std::string* name = string_member(r, "displayName");
      if (id == nullptr || name == nullptr) {
        out.error = "SCIM group resource without \"id\" or \"displayName\"";
        return out;
      }
      g.id = *id;
      g.display_name = *name;
      std::string error;
      if (!parse_members(r, &g.members, &error, &g.members_listed)) {
        out.error = "SCIM group \"" + printable(g.display_name, 64) + "\": " + error;
        return out;
      }
      out.groups.push_back(std::move(g));
    }
  }
  out.items = static_cast<int64_t>(out.groups.size());
  out.ok = true;
  return out;
}

namespace {
template <typename Page>
std::optional<int64_t> next_start(const Page& page, int64_t asked_start, int64_t seen_so_far, std::string* error) {
  error->clear();
  if (page.start_index != asked_start) {
    *error = "SCIM answered startIndex " + std::to_string(page.start_index) + " for a request of " +
             std::to_string(asked_start);
    return std::nullopt;
  }
  if (page.items == 0) return std::nullopt;
  if (seen_so_far >= page.total_results) return std::nullopt;
  return asked_start + page.items;
}
}  // namespace

std::optional<int64_t> scim_next_start_index(const ScimListPage& page, int64_t asked_start, int64_t seen_so_far,
                                             std::string* error) {
  return next_start(page, asked_start, seen_so_far, error);
}

std::optional<int64_t> scim_next_start_index(const ScimResolvePage& page, int64_t asked_start, int64_t seen_so_far,
                                             std::string* error) {
  return next_start(page, asked_start, seen_so_far, error);
}

std::optional<ScimGroup> scim_select_group(const std::vector<ScimGroup>& groups, std::string_view name,
                                           std::string* error) {
  error->clear();
  std::optional<ScimGroup> found;
  for (const ScimGroup& g : groups) {
    if (g.display_name != name) continue;
    if (found && found->id != g.id) {
      *error = "several workspace groups are named \"" + printable(name, 64) + "\"";
      return std::nullopt;
    }
    found = g;
  }
  return found;
}

ScimIdentity parse_scim_resource(ScimMemberKind kind, std::string_view body) {
  JsonParseResult parsed = parse_json_strict(body, kScimMaxDepth);
  if (parsed.reason != Reason::ok || !parsed.value.is_object()) {
    ScimIdentity out;
    out.error = "SCIM resource is not a JSON object";
    return out;
  }
  return resource_from_json(kind, parsed.value);
}

std::string scim_bulk_resolve_url(std::string_view base, ScimMemberKind kind, const std::vector<std::string>& ids,
                                  int64_t start_index, int count) {
  std::string filter;
  for (const std::string& id : ids) {
    if (!filter.empty()) filter += " or ";
    filter += "id eq " + scim_quote(id);
  }
  std::string url(base);
  url += "/";
  url += scim_member_kind_path(kind);
  url += "?filter=" + percent_encode(filter);
  url += "&attributes=" + percent_encode(kind == ScimMemberKind::service_principal ? "id,applicationId,active"
                                                                                  : "id,userName,active");
  url += "&startIndex=" + std::to_string(start_index);
  url += "&count=" + std::to_string(count);
  return url;
}

ScimResolvePage parse_scim_resolve_page(ScimMemberKind kind, std::string_view body) {
  ScimResolvePage out;
  JsonParseResult parsed = parse_json_strict(body, kScimMaxDepth);
  if (parsed.reason != Reason::ok) {
    out.error = "SCIM answer is not valid JSON: " + parsed.detail;
    return out;
  }
  const json* resources = list_envelope(parsed.value, &out.total_results, &out.start_index, &out.error);
  if (resources == nullptr) return out;
  for (const json& r : *resources) {
    const std::string* id = r.is_object() ? string_member(r, "id") : nullptr;
    if (id == nullptr || id->empty()) {
      out.error = "SCIM list answer has a resource without an \"id\"";
      return out;
    }
    ScimIdentity res = resource_from_json(kind, r);
    if (!res.ok) {
      out.error = res.error;
      return out;
    }
    out.resources.emplace_back(*id, std::move(res));
  }
  out.items = static_cast<int64_t>(out.resources.size());
  out.ok = true;
  return out;
}

bool scim_members_hidden(std::string_view full_group_body) {
  JsonParseResult parsed = parse_json_strict(full_group_body, kScimMaxDepth);
  if (parsed.reason != Reason::ok || !parsed.value.is_object()) return false;
  for (const auto& item : parsed.value.items()) {
    const std::string& k = item.key();
    if (k != "id" && k != "displayName" && k != "schemas") return false;
  }
  return true;
}

std::string scim_group_probe_url(std::string_view base, std::string_view id) {
  return std::string(base) + "/Groups/" + percent_encode(id);
}

std::string scim_error_text(long http_status, std::string_view body) {
  std::string out = "SCIM answered HTTP " + std::to_string(http_status);
  JsonParseResult parsed = parse_json_strict(body, kScimMaxDepth);
  if (parsed.reason == Reason::ok && parsed.value.is_object()) {
    const std::string* type = string_member(parsed.value, "scimType");
    const std::string* detail = string_member(parsed.value, "detail");
    if (type != nullptr) out += " " + printable(*type, 40);
    if (detail != nullptr) out += ": " + printable(*detail, 160);
  }
  return out;
}

}  // namespace dbx_oauth::core
