// The SCIM nested-group walk: from a workspace group's direct members to
// the identities that may log in as it.  Pure logic; the network is behind
// callbacks so that the rules (depth, cycles, unknown member kinds,
// missing members, overflow, batching) are unit-tested without a server
// (test/unit/group_walk_test.cpp).  docs/identity-sync.md
// describes the rules for operators.
//
//   - Users and service principals are resolved in batches of at most
//     GroupWalkLimits::batch ids (one SCIM list request with an `or`
//     filter each); an id the batch does not return is missing: deleted,
//     or an account-level identity the workspace does not show.  Missing
//     members are counted, never guessed.
//   - A member whose kind is unknown is looked up as a user first, then
//     as a service principal; found as neither, it is missing.
//   - Nested groups are expanded level by level up to max_depth (the named
//     group is depth 0, its direct members are depth 1); deeper groups are
//     counted in too_deep, a group met again (a cycle, or the same group
//     twice) is expanded once.
//   - Inactive users and service principals are left out and their
//     identities reported (deprovisioned).
//   - More than max_members identities: overflow, no identities at all (a
//     group is never truncated).
//
// A WalkMemo shared by every group of one sync round resolves each member
// once per round; it is dropped when the round ends, so no answer outlives
// one group_sync_interval.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/scim.h"

namespace dbx_oauth::core {

struct ResolvedMember {
  std::string identity;  // userName or applicationId, as answered
  bool active = true;
};

// Answers of one round: "Users/<id>" etc. -> resolved (nullopt: missing).
struct WalkMemo {
  std::map<std::string, std::optional<ResolvedMember>> members;
  std::map<std::string, std::optional<std::vector<ScimMember>>> groups;
  void clear() {
    members.clear();
    groups.clear();
  }
};

struct GroupWalkCallbacks {
  // Users or service principals (kind) by id, at most GroupWalkLimits::batch
  // ids at a time.  Ids absent from the answer are missing.  Failures are
  // thrown by the callback and leave the walk (the caller's exception).
  std::function<std::map<std::string, ResolvedMember>(ScimMemberKind, const std::vector<std::string>&)> resolve;
  // A nested group's members; nullopt when the group is missing (404).
  std::function<std::optional<std::vector<ScimMember>>(const std::string& group_id)> nested_members;
  // Polled between requests; true stops the walk (result.cancelled).
  std::function<bool()> cancelled;
};

struct GroupWalkLimits {
  int max_depth = kScimMaxNestingDepth;
  size_t max_members = 10000;
  size_t batch = 50;
};

struct GroupWalkResult {
  std::vector<std::string> identities;  // folded, sorted, unique; empty on overflow
  int missing = 0;       // members the workspace does not return (404)
  int too_deep = 0;      // nested groups beyond max_depth
  int cycles = 0;        // nested groups met again (expanded once)
  int inactive = 0;      // inactive users / service principals, left out
  std::vector<std::string> deprovisioned;  // their identities, folded, sorted, unique
  bool overflow = false;
  bool cancelled = false;
  // Members left out for any reason but inactivity.
  int unresolved() const { return missing + too_deep; }
};

GroupWalkResult walk_group(const ScimGroup& group, const GroupWalkCallbacks& callbacks, const GroupWalkLimits& limits,
                           WalkMemo* memo);

}  // namespace dbx_oauth::core
