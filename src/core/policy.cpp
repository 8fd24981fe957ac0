// Volume access policies: JSON parser, evaluator, cache, policy-user matrix.
#include "core/policy.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <utility>

namespace dbx_oauth::core {

using nlohmann::json;

std::string PolicyError::to_string() const { return location + ": " + message; }

// ---------------------------------------------------------------------------
// Parser

namespace {

struct ParseFailure {
  PolicyError error;
};

const char* json_type_phrase(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

[[noreturn]] void fail(PolicyErrorCode code, std::string location, std::string message) {
  throw ParseFailure{PolicyError{code, std::move(location), std::move(message)}};
}

[[noreturn]] void fail_type(const std::string& location, const char* expected, const json& v) {
  fail(PolicyErrorCode::invalid_value, location,
       std::string("expected ") + expected + ", found " + json_type_phrase(v));
}

// Printable, bounded rendering of untrusted text for error messages.
std::string quote_text(std::string_view s) {
  std::string out = "\"";
  std::size_t n = 0;
  for (unsigned char c : s) {
    if (++n > 64) {
      out += "...";
      break;
    }
    out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? static_cast<char>(c) : '?');
  }
  out += "\"";
  return out;
}

bool is_identifier_start(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}
bool is_identifier_char(unsigned char c) {
  return is_identifier_start(c) || (c >= '0' && c <= '9') || c == '$';
}

// One SQL identifier at s[*pos]: plain (letters, digits, _, $) or "quoted"
// with "" as the escape.  Advances *pos.
bool scan_identifier(std::string_view s, std::size_t* pos) {
  std::size_t i = *pos;
  if (i >= s.size()) return false;
  if (s[i] == '"') {
    ++i;
    std::size_t chars = 0;
    while (i < s.size()) {
      if (s[i] == '"') {
        if (i + 1 < s.size() && s[i + 1] == '"') {
          i += 2;
          ++chars;
          continue;
        }
        break;
      }
      ++i;
      ++chars;
    }
    if (i >= s.size() || chars == 0) return false;
    *pos = i + 1;
    return true;
  }
  if (!is_identifier_start(static_cast<unsigned char>(s[i]))) return false;
  ++i;
  while (i < s.size() && is_identifier_char(static_cast<unsigned char>(s[i]))) ++i;
  *pos = i;
  return true;
}

// "schema.function" with both parts SQL identifiers.
bool is_qualified_function_name(std::string_view s) {
  if (s.size() > 2 * 64 + 8) return false;
  std::size_t pos = 0;
  if (!scan_identifier(s, &pos)) return false;
  if (pos >= s.size() || s[pos] != '.') return false;
  ++pos;
  if (!scan_identifier(s, &pos)) return false;
  return pos == s.size();
}

}  // namespace

class PolicyParser {
 public:
  Policy run(const json& root) {
    Policy p;
    policy_ = &p;
    parse(root, "policy", 1);
    p.compile();
    return p;
  }

 private:
  using Kind = Policy::Kind;

  std::uint32_t add(Policy::Node node) {
    policy_->nodes_.push_back(std::move(node));
    return static_cast<std::uint32_t>(policy_->nodes_.size() - 1);
  }

  static void require_true(const json& v, const std::string& loc) {
    if (!v.is_boolean()) fail_type(loc, "true", v);
    if (!v.get<bool>()) fail(PolicyErrorCode::invalid_value, loc, "expected true, found false");
  }

  static const json::array_t& require_list(const json& v, const std::string& loc) {
    if (!v.is_array()) fail_type(loc, "a non-empty array", v);
    const auto& a = v.get_ref<const json::array_t&>();
    if (a.empty()) fail(PolicyErrorCode::empty_list, loc, "expected a non-empty array");
    return a;
  }

  std::uint32_t parse(const json& v, const std::string& loc, int depth) {
    if (depth > kMaxPolicyDepth)
      fail(PolicyErrorCode::too_deep, loc,
           "policy nesting exceeds " + std::to_string(kMaxPolicyDepth) + " levels");
    if (!v.is_object()) fail(PolicyErrorCode::not_an_object, loc,
                             std::string("expected a policy object, found ") + json_type_phrase(v));
    const auto& obj = v.get_ref<const json::object_t&>();
    if (obj.empty())
      fail(PolicyErrorCode::key_count, loc, "expected exactly one key, found none");
    if (obj.size() > 1) {
      std::string keys;
      for (const auto& kv : obj) keys += (keys.empty() ? "" : ", ") + quote_text(kv.first);
      fail(PolicyErrorCode::key_count, loc,
           "expected exactly one key, found " + std::to_string(obj.size()) + " (" + keys +
               "); combine policies with \"all\" or \"any\"");
    }
    const std::string& key = obj.begin()->first;
    const json& val = obj.begin()->second;
    const std::string kloc = loc + "." + key;

    Policy::Node node;
    if (key == "allowAll" || key == "denyAll" || key == "publicRead" || key == "usersOnly" ||
        key == "servicePrincipalOnly" || key == "ownerPrefix") {
      require_true(val, kloc);
      node.kind = key == "allowAll"     ? Kind::allow_all
                  : key == "denyAll"    ? Kind::deny_all
                  : key == "publicRead" ? Kind::public_read
                  : key == "usersOnly"  ? Kind::users_only
                  : key == "ownerPrefix" ? Kind::owner_prefix
                                         : Kind::service_principal_only;
      return add(std::move(node));
    }
    if (key == "all" || key == "any") {
      const auto& items = require_list(val, kloc);
      node.kind = key == "all" ? Kind::all : Kind::any;
      std::vector<std::uint32_t> kids;
      kids.reserve(items.size());
      for (std::size_t i = 0; i < items.size(); ++i)
        kids.push_back(parse(items[i], kloc + "[" + std::to_string(i) + "]", depth + 1));
      return add_with_children(std::move(node), kids);
    }
    if (key == "not") {
      node.kind = Kind::negate;
      std::uint32_t kid = parse(val, kloc, depth + 1);
      return add_with_children(std::move(node), {kid});
    }
    if (key == "actions") {
      const auto& items = require_list(val, kloc);
      node.kind = Kind::actions;
      for (std::size_t i = 0; i < items.size(); ++i) {
        std::string iloc = kloc + "[" + std::to_string(i) + "]";
        if (!items[i].is_string()) fail_type(iloc, "an action name", items[i]);
        const auto& name = items[i].get_ref<const std::string&>();
        auto action = parse_file_action(name);
        if (!action)
          fail(PolicyErrorCode::invalid_value, iloc,
               "unknown action " + quote_text(name) +
                   " (expected list, read, download, raw, exists, metadata, preview, upload, mkdir or delete)");
        node.action_mask |= file_action_bit(*action);
      }
      return add(std::move(node));
    }
    if (key == "userIn") {
      const auto& items = require_list(val, kloc);
      node.kind = Kind::user_in;
      for (std::size_t i = 0; i < items.size(); ++i) {
        std::string iloc = kloc + "[" + std::to_string(i) + "]";
        if (!items[i].is_string()) fail_type(iloc, "a user id string", items[i]);
        const auto& id = items[i].get_ref<const std::string&>();
        if (id.empty()) fail(PolicyErrorCode::invalid_value, iloc, "expected a non-empty user id");
        node.users.push_back(id);
      }
      std::sort(node.users.begin(), node.users.end());
      node.users.erase(std::unique(node.users.begin(), node.users.end()), node.users.end());
      return add(std::move(node));
    }
    if (key == "pathPrefix") {
      if (!val.is_string()) fail_type(kloc, "a string", val);
      node.kind = Kind::path_prefix;
      node.text = val.get<std::string>();
      if (node.text.empty()) fail(PolicyErrorCode::invalid_value, kloc, "expected a non-empty string");
      return add(std::move(node));
    }
    if (key == "maxSize") {
      node.kind = Kind::max_size;
      if (val.is_number_unsigned()) {
        auto n = val.get<std::uint64_t>();
        if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          fail(PolicyErrorCode::invalid_value, kloc, "expected a non-negative integer of at most 2^63-1");
        node.max_size = static_cast<std::int64_t>(n);
      } else if (val.is_number_integer()) {
        node.max_size = val.get<std::int64_t>();
        if (node.max_size < 0) fail(PolicyErrorCode::invalid_value, kloc, "expected a non-negative integer");
      } else if (val.is_number_float()) {
        fail(PolicyErrorCode::invalid_value, kloc, "expected a non-negative integer, found a fraction or an out-of-range number");
      } else {
        fail_type(kloc, "a non-negative integer", val);
      }
      return add(std::move(node));
    }
    if (key == "fn") {
      if (!val.is_string()) fail_type(kloc, "a function name string", val);
      node.kind = Kind::function;
      node.text = val.get<std::string>();
      if (!is_qualified_function_name(node.text))
        fail(PolicyErrorCode::invalid_value, kloc,
             "expected a schema-qualified function name such as \"app.may_access\", found " + quote_text(node.text));
      auto& fns = policy_->functions_;
      if (std::find(fns.begin(), fns.end(), node.text) == fns.end()) fns.push_back(node.text);
      return add(std::move(node));
    }
    fail(PolicyErrorCode::unknown_key, loc,
         "unknown key " + quote_text(key) +
             " (expected allowAll, denyAll, publicRead, all, any, not, usersOnly, servicePrincipalOnly, "
             "actions, userIn, pathPrefix, maxSize, ownerPrefix or fn)");
  }

  std::uint32_t add_with_children(Policy::Node node, const std::vector<std::uint32_t>& kids) {
    node.first_child = static_cast<std::uint32_t>(policy_->children_.size());
    node.child_count = static_cast<std::uint32_t>(kids.size());
    policy_->children_.insert(policy_->children_.end(), kids.begin(), kids.end());
    return add(std::move(node));
  }

  Policy* policy_ = nullptr;
};

namespace {

// Deepest nesting of arrays/objects; iterative so hostile input cannot
// exhaust the stack before the parser's own depth check runs.
int json_depth(const json& root) {
  int max_depth = 0;
  std::vector<std::pair<const json*, int>> stack{{&root, 1}};
  while (!stack.empty()) {
    auto [v, d] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    max_depth = std::max(max_depth, d);
    if (d > 2 * kMaxPolicyDepth + 2) return d;
    for (const auto& child : *v) stack.emplace_back(&child, d + 1);
  }
  return max_depth;
}

}  // namespace

PolicyParseResult parse_policy(std::string_view json_text) {
  PolicyParseResult result;
  json root;
  try {
    root = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    auto pos = what.find("] ");
    result.error = PolicyError{PolicyErrorCode::invalid_json, "policy",
                               "invalid JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2))};
    return result;
  }
  if (json_depth(root) > 2 * kMaxPolicyDepth + 1) {
    result.error = PolicyError{PolicyErrorCode::too_deep, "policy",
                               "policy nesting exceeds " + std::to_string(kMaxPolicyDepth) + " levels"};
    return result;
  }
  try {
    PolicyParser parser;
    result.policy = parser.run(root);
  } catch (const ParseFailure& f) {
    result.error = f.error;
  }
  return result;
}

// ---------------------------------------------------------------------------
// Evaluator

Policy Policy::public_read() {
  Policy p;
  Node n;
  n.kind = Kind::public_read;
  p.nodes_.push_back(std::move(n));
  p.compile();
  return p;
}

void Policy::compile() {
  steps_.clear();
  // The parser adds children before parents, so the root is the last node.
  entry_ = nodes_.empty() ? kDeny : compile_node(static_cast<std::uint32_t>(nodes_.size() - 1), kAllow, kDeny);
}

// Compiles the node so that it continues at on_true when it holds and at
// on_false when not; returns where its evaluation starts.  Combinators
// compile their children last to first, each child's "continue" target
// being the next child's start.  Depth is bounded by kMaxPolicyDepth.
std::int32_t Policy::compile_node(std::uint32_t index, std::int32_t on_true, std::int32_t on_false) {
  const Node& n = nodes_[index];
  switch (n.kind) {
    case Kind::allow_all: return on_true;
    case Kind::deny_all: return on_false;
    case Kind::all: {
      std::int32_t start = on_true;
      for (std::uint32_t i = n.child_count; i-- > 0;)
        start = compile_node(children_[n.first_child + i], start, on_false);
      return start;
    }
    case Kind::any: {
      std::int32_t start = on_false;
      for (std::uint32_t i = n.child_count; i-- > 0;)
        start = compile_node(children_[n.first_child + i], on_true, start);
      return start;
    }
    case Kind::negate: return compile_node(children_[n.first_child], on_false, on_true);
    default:
      steps_.push_back(Step{index, on_true, on_false});
      return static_cast<std::int32_t>(steps_.size() - 1);
  }
}

bool Policy::evaluate(FileAction action, const FileResource& resource, const PolicyUser& user,
                      PolicyFunctionCaller* functions) const {
  if (nodes_.empty()) return false;
  // Without a caller an fn node cannot be decided.  Denying the whole policy
  // (rather than answering false at the node) keeps {"not": {"fn": ...}}
  // from turning a missing caller into an allow.
  if (functions == nullptr && !functions_.empty()) return false;
  std::int32_t at = entry_;
  while (at >= 0) {
    const Step& step = steps_[static_cast<std::size_t>(at)];
    at = test_leaf(nodes_[step.node], action, resource, user, functions) ? step.on_true : step.on_false;
  }
  return at == kAllow;
}

// One leaf of the tree (combinators and allowAll/denyAll are compiled away).
inline bool Policy::test_leaf(const Node& n, FileAction action, const FileResource& resource,
                              const PolicyUser& user, PolicyFunctionCaller* functions) const {
  switch (n.kind) {
    case Kind::public_read: return is_read_action(action);
    case Kind::users_only: return !user.is_service_principal;
    case Kind::service_principal_only: return user.is_service_principal;
    case Kind::actions: return (n.action_mask & file_action_bit(action)) != 0;
    case Kind::user_in:
      return std::binary_search(n.users.begin(), n.users.end(), user.id,
                                [](std::string_view a, std::string_view b) { return a < b; });
    case Kind::path_prefix:
      return resource.path.size() >= n.text.size() &&
             std::memcmp(resource.path.data(), n.text.data(), n.text.size()) == 0;
    case Kind::max_size: return !resource.size || *resource.size <= n.max_size;
    case Kind::owner_prefix: {
      const std::string_view id = user.id;
      const std::string_view p = resource.path;
      if (id.empty() || p.size() < id.size() || std::memcmp(p.data(), id.data(), id.size()) != 0) return false;
      return p.size() == id.size() || p[id.size()] == '/';
    }
    case Kind::function: return functions->call(n.text, action, resource, user);
    case Kind::allow_all:
    case Kind::deny_all:
    case Kind::all:
    case Kind::any:
    case Kind::negate: break;  // never a step
  }
  return false;
}

// ---------------------------------------------------------------------------
// Cache

std::uint64_t PolicyCache::hash(std::string_view key) {
  return static_cast<std::uint64_t>(std::hash<std::string_view>{}(key));
}

std::shared_ptr<const Policy> PolicyCache::find(std::string_view key) const {
  auto range = entries_.equal_range(hash(key));
  for (auto it = range.first; it != range.second; ++it)
    if (it->second.key == key) return it->second.policy;
  return nullptr;
}

std::shared_ptr<const Policy> PolicyCache::insert(std::string_view key, Policy policy) {
  if (auto existing = find(key)) return existing;
  if (entries_.size() >= max_entries_) clear();
  auto shared = std::make_shared<const Policy>(std::move(policy));
  entries_.emplace(hash(key), Entry{std::string(key), shared});
  return shared;
}

void PolicyCache::clear() {
  entries_.clear();
  ++generation_;
}

// ---------------------------------------------------------------------------
// Policy-user matrix

std::string_view volume_auth_mode_name(VolumeAuthMode mode) {
  return mode == VolumeAuthMode::on_behalf_of_user ? "on-behalf-of-user" : "service-principal";
}

std::optional<VolumeAuthMode> parse_volume_auth_mode(std::string_view name) {
  if (name == "service-principal") return VolumeAuthMode::service_principal;
  if (name == "on-behalf-of-user") return VolumeAuthMode::on_behalf_of_user;
  return std::nullopt;
}

const char* policy_user_reason_name(PolicyUserReason reason) {
  switch (reason) {
    case PolicyUserReason::forwarded_user: return "forwarded_user";
    case PolicyUserReason::no_user_header: return "no_user_header";
    case PolicyUserReason::dev_fallback: return "dev_fallback";
    case PolicyUserReason::missing_token: return "missing_token";
    case PolicyUserReason::missing_user: return "missing_user";
  }
  return "unknown";
}

std::string_view trim_header_value(std::string_view v) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (!v.empty() && space(v.front())) v.remove_prefix(1);
  while (!v.empty() && space(v.back())) v.remove_suffix(1);
  return v;
}

PolicyUserDecision decide_policy_user(const PolicyUserRequest& r) {
  std::string_view user;
  if (r.forwarded_user) user = trim_header_value(*r.forwarded_user);
  const bool has_user = !user.empty();

  auto as_user = [&] { return PolicyUserDecision{PolicyUserOutcome::user, PolicyUserReason::forwarded_user, user}; };
  auto as_sp = [](PolicyUserReason why) { return PolicyUserDecision{PolicyUserOutcome::service_principal, why, {}}; };
  auto deny = [](PolicyUserReason why) { return PolicyUserDecision{PolicyUserOutcome::unauthorized, why, {}}; };

  if (r.programmatic) {
    // Direct call without a request: the service principal.  asUser(req):
    // both headers, or 401 (production) / SP (development).
    if (!has_user) return as_sp(PolicyUserReason::no_user_header);
    if (r.has_token) return as_user();
    return r.dev_mode ? as_sp(PolicyUserReason::dev_fallback) : deny(PolicyUserReason::missing_token);
  }
  if (r.mode == VolumeAuthMode::service_principal)
    return has_user ? as_user() : as_sp(PolicyUserReason::no_user_header);

  // on-behalf-of-user HTTP route
  if (r.has_token && has_user) return as_user();
  if (!r.has_token) return r.dev_mode ? as_sp(PolicyUserReason::dev_fallback) : deny(PolicyUserReason::missing_token);
  return deny(PolicyUserReason::missing_user);
}

}  // namespace dbx_oauth::core
