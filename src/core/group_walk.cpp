// The nested-group walk (see group_walk.h).
#include "core/group_walk.h"

#include <algorithm>
#include <set>

namespace dbx_oauth::core {

namespace {

std::string memo_key(ScimMemberKind kind, const std::string& id) {
  return std::string(scim_member_kind_path(kind)) + "/" + id;
}

struct Walk {
  const GroupWalkCallbacks& cb;
  const GroupWalkLimits& limits;
  WalkMemo* memo;
  GroupWalkResult result;
  std::set<std::string> identities;
  std::set<std::string> deprovisioned;

  bool cancelled() {
    if (!result.cancelled && cb.cancelled && cb.cancelled()) result.cancelled = true;
    return result.cancelled;
  }

  // Resolves ids of one kind (memo first, then batches); returns the ids
  // still missing afterwards.
  std::vector<std::string> resolve(ScimMemberKind kind, const std::vector<std::string>& ids) {
    std::vector<std::string> missing, ask;
    for (const std::string& id : ids) {
      auto it = memo->members.find(memo_key(kind, id));
      if (it == memo->members.end())
        ask.push_back(id);
      else if (it->second)
        take(*it->second);
      else
        missing.push_back(id);
    }
    const size_t batch = std::max<size_t>(1, limits.batch);
    for (size_t i = 0; i < ask.size() && !result.overflow; i += batch) {
      if (cancelled()) return {};
      std::vector<std::string> part(ask.begin() + static_cast<std::ptrdiff_t>(i),
                                    ask.begin() + static_cast<std::ptrdiff_t>(std::min(ask.size(), i + batch)));
      std::map<std::string, ResolvedMember> found = cb.resolve(kind, part);
      for (const std::string& id : part) {
        auto it = found.find(id);
        if (it == found.end()) {
          memo->members[memo_key(kind, id)] = std::nullopt;
          missing.push_back(id);
        } else {
          memo->members[memo_key(kind, id)] = it->second;
          take(it->second);
        }
      }
    }
    return missing;
  }

  void take(const ResolvedMember& m) {
    if (result.overflow) return;
    std::string folded = fold_member_identity(m.identity);
    if (!m.active) {
      deprovisioned.insert(std::move(folded));
      return;
    }
    identities.insert(std::move(folded));
    if (identities.size() > limits.max_members) result.overflow = true;
  }

  std::optional<std::vector<ScimMember>> nested(const std::string& id) {
    auto it = memo->groups.find(id);
    if (it != memo->groups.end()) return it->second;
    std::optional<std::vector<ScimMember>> members = cb.nested_members(id);
    memo->groups[id] = members;
    return members;
  }

  void run(const ScimGroup& group) {
    std::set<std::string> seen_groups{group.id};
    std::set<std::string> seen_leaves;
    std::vector<ScimMember> level = group.members;
    for (int depth = 1; !level.empty() && !result.overflow; depth++) {
      std::vector<std::string> users, sps, unknown, groups;
      for (const ScimMember& m : level) {
        if (m.kind == ScimMemberKind::group) {
          if (!seen_groups.insert(m.id).second)
            result.cycles++;
          else if (depth > limits.max_depth)
            result.too_deep++;
          else
            groups.push_back(m.id);
          continue;
        }
        if (!seen_leaves.insert(memo_key(m.kind, m.id)).second) continue;
        (m.kind == ScimMemberKind::user ? users : m.kind == ScimMemberKind::service_principal ? sps : unknown)
            .push_back(m.id);
      }
      result.missing += static_cast<int>(resolve(ScimMemberKind::user, users).size());
      result.missing += static_cast<int>(resolve(ScimMemberKind::service_principal, sps).size());
      // Unknown kind: a user, else a service principal, else missing.
      std::vector<std::string> not_users = resolve(ScimMemberKind::user, unknown);
      result.missing += static_cast<int>(resolve(ScimMemberKind::service_principal, not_users).size());
      if (cancelled()) return;

      std::vector<ScimMember> next;
      for (const std::string& id : groups) {
        if (result.overflow || cancelled()) return;
        std::optional<std::vector<ScimMember>> members = nested(id);
        if (!members) {
          result.missing++;
          continue;
        }
        next.insert(next.end(), members->begin(), members->end());
      }
      level = std::move(next);
    }
  }
};

}  // namespace

GroupWalkResult walk_group(const ScimGroup& group, const GroupWalkCallbacks& callbacks, const GroupWalkLimits& limits,
                           WalkMemo* memo) {
  WalkMemo local;
  Walk w{callbacks, limits, memo != nullptr ? memo : &local, {}, {}, {}};
  w.run(group);
  GroupWalkResult out = std::move(w.result);
  out.inactive = static_cast<int>(w.deprovisioned.size());
  out.deprovisioned.assign(w.deprovisioned.begin(), w.deprovisioned.end());
  if (!out.overflow && !out.cancelled) out.identities.assign(w.identities.begin(), w.identities.end());
  return out;
}

}  // namespace dbx_oauth::core
