// Volume access policies with the AppKit files-plugin semantics
// (docs/volume-policies.md), written as JSON instead of TypeScript closures.
//
// A policy is one JSON object with exactly one key:
//
//   {"allowAll": true}   {"denyAll": true}   {"publicRead": true}
//   {"all": [p, ...]}    {"any": [p, ...]}   {"not": p}
//   {"usersOnly": true}  {"servicePrincipalOnly": true}
//   {"actions": ["read", ...]}   {"userIn": ["alice@example.com", ...]}
//   {"pathPrefix": "public/"}    {"maxSize": 1048576}
//   {"ownerPrefix": true}        {"fn": "schema.function"}
//
// It is parsed once into a flat AST (Policy) and evaluated without touching
// JSON.  `all` stops at the first deny and `any` at the first allow, so a
// later `fn` is not called once the result is decided.  `fn` nodes are
// evaluated through a PolicyFunctionCaller supplied by the caller (the
// PostgreSQL glue calls a SQL function).  Parse errors name the place, e.g.
// "policy.all[1].pathPrefix" / "expected a string".
//
// Also here: the policy-user matrix (which identity a policy sees) and a
// content-keyed cache of parsed policies.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/file_action.h"

namespace dbx_oauth::core {

// The identity a policy sees.  Views: the caller keeps the text alive.
struct PolicyUser {
  std::string_view id;
  bool is_service_principal = false;
};

// The file or directory acted upon; `path` is relative to the volume root.
struct FileResource {
  std::string_view path;
  std::string_view volume;
  std::optional<std::int64_t> size;  // bytes; uploads only, as in AppKit
};

// Evaluates {"fn": "..."} nodes.  May throw; the exception leaves evaluate().
class PolicyFunctionCaller {
 public:
  virtual ~PolicyFunctionCaller() = default;
  virtual bool call(const std::string& function, FileAction action, const FileResource& resource,
                    const PolicyUser& user) = 0;
};

enum class PolicyErrorCode {
  invalid_json,    // not JSON at all (text input only)
  not_an_object,   // a policy that is not a JSON object
  key_count,       // an object with no key or with more than one
  unknown_key,     // a key that is not a policy name
  invalid_value,   // a known key with a value of the wrong type or range
  empty_list,      // all / any / actions / userIn with no element
  too_deep,        // nesting beyond kMaxPolicyDepth
};

struct PolicyError {
  PolicyErrorCode code = PolicyErrorCode::invalid_json;
  std::string location;  // "policy", "policy.all[1].pathPrefix", ...
  std::string message;   // "expected a string"; PostgreSQL style

  // "<location>: <message>"
  std::string to_string() const;
};

// Combinators may nest this deep (the root policy is depth 1).
inline constexpr int kMaxPolicyDepth = 32;

class Policy {
 public:
  // The AppKit default for a volume without a policy.
  static Policy public_read();

  bool evaluate(FileAction action, const FileResource& resource, const PolicyUser& user,
                PolicyFunctionCaller* functions) const;

  // Distinct function names referenced by fn nodes, in order of appearance.
  const std::vector<std::string>& functions() const { return functions_; }

  std::size_t node_count() const { return nodes_.size(); }

 private:
  friend class PolicyParser;

  enum class Kind : std::uint8_t {
    allow_all,
    deny_all,
    public_read,
    all,
    any,
    negate,
    users_only,
    service_principal_only,
    actions,
    user_in,
    path_prefix,
    max_size,
    owner_prefix,
    function,
  };

  struct Node {
    Kind kind = Kind::deny_all;
    std::uint16_t action_mask = 0;   // actions
    std::uint32_t first_child = 0;   // all, any, negate: index into children_
    std::uint32_t child_count = 0;
    std::int64_t max_size = 0;       // max_size
    std::string text;                // path_prefix, function
    std::vector<std::string> users;  // user_in
  };

  // The tree compiled to short-circuit jumps, once, after parsing: one step
  // per leaf test, which continues at on_true or on_false; a negative target
  // ends the evaluation (kAllow, kDeny).  Leaves are tested in the order and
  // under the conditions the tree's left-to-right short-circuit evaluation
  // tests them (so fn nodes are called exactly as often), without recursion:
  // a policy runs per row in RLS, and the recursive walk cost more than the
  // tests themselves.  Targets always point to earlier steps, so every
  // evaluation ends.
  struct Step {
    std::uint32_t node;
    std::int32_t on_true;
    std::int32_t on_false;
  };
  static constexpr std::int32_t kAllow = -1;
  static constexpr std::int32_t kDeny = -2;

  void compile();
  std::int32_t compile_node(std::uint32_t index, std::int32_t on_true, std::int32_t on_false);
  bool test_leaf(const Node& n, FileAction action, const FileResource& resource, const PolicyUser& user,
                 PolicyFunctionCaller* functions) const;

  std::vector<Node> nodes_;              // the root is the last node
  std::vector<std::uint32_t> children_;  // node indices
  std::vector<std::string> functions_;
  std::vector<Step> steps_;
  std::int32_t entry_ = kDeny;
};

// Exactly one of policy / error is set.
struct PolicyParseResult {
  std::optional<Policy> policy;
  std::optional<PolicyError> error;
  bool ok() const { return policy.has_value(); }
};

// Parses JSON text.  Duplicate keys are not an error here (PostgreSQL's
// jsonb keeps the last one before we see the text).
PolicyParseResult parse_policy(std::string_view json_text);

// Parsed policies keyed by their exact bytes (the glue uses the jsonb
// datum, whose binary form is canonical).  Entries are shared so that a
// holder survives clear(); raw pointers from find() stay valid until the
// generation changes.
class PolicyCache {
 public:
  explicit PolicyCache(std::size_t max_entries = 1024) : max_entries_(max_entries) {}

  std::shared_ptr<const Policy> find(std::string_view key) const;

  // Stores `policy` under key (replacing nothing: an existing entry wins and
  // is returned).  Clears the cache first when it is full.
  std::shared_ptr<const Policy> insert(std::string_view key, Policy policy);

  void clear();
  std::size_t size() const { return entries_.size(); }
  // Changes whenever entries may have been freed.
  std::uint64_t generation() const { return generation_; }

  static std::uint64_t hash(std::string_view key);

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const Policy> policy;
  };
  std::unordered_multimap<std::uint64_t, Entry> entries_;
  std::size_t max_entries_;
  std::uint64_t generation_ = 1;
};

// ---------------------------------------------------------------------------
// Policy-user matrix (AppKit `_enforcePolicy`, `_extractOboUser`,
// `_extractUser`).

enum class VolumeAuthMode { service_principal, on_behalf_of_user };

// "service-principal" / "on-behalf-of-user".
std::string_view volume_auth_mode_name(VolumeAuthMode mode);
std::optional<VolumeAuthMode> parse_volume_auth_mode(std::string_view name);

struct PolicyUserRequest {
  VolumeAuthMode mode = VolumeAuthMode::service_principal;
  std::optional<std::string_view> forwarded_user;  // x-forwarded-user, untrimmed
  bool has_token = false;                          // x-forwarded-access-token present
  bool programmatic = false;                       // asUser(req) / direct call, not an HTTP route
  bool dev_mode = false;                           // NODE_ENV === "development"
};

enum class PolicyUserOutcome {
  user,               // the forwarded user
  service_principal,  // the application's own identity
  unauthorized,       // AppKit answers 401
};

// Why the outcome is what it is; for logs and tests.
enum class PolicyUserReason {
  forwarded_user,         // user header (and token where required)
  no_user_header,         // SP volume without header, or a direct programmatic call
  dev_fallback,           // incomplete headers in development mode
  missing_token,          // OBO volume / asUser without a token (production)
  missing_user,           // token but no user header
};

struct PolicyUserDecision {
  PolicyUserOutcome outcome = PolicyUserOutcome::unauthorized;
  PolicyUserReason reason = PolicyUserReason::missing_token;
  std::string_view user_id;  // trimmed forwarded user when outcome == user
  bool is_service_principal() const { return outcome == PolicyUserOutcome::service_principal; }
};

const char* policy_user_reason_name(PolicyUserReason reason);

PolicyUserDecision decide_policy_user(const PolicyUserRequest& request);

// ASCII whitespace trimmed from both ends (header values).
std::string_view trim_header_value(std::string_view value);

}  // namespace dbx_oauth::core
