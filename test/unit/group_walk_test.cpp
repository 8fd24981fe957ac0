// The nested-group walk: batching, depth, cycles, unknown member kinds,
// missing members, inactive identities, overflow, the per-round memo and
// cancellation, against an in-memory directory behind the callbacks.
#include "core/group_walk.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace dbx_oauth::core {
namespace {

struct Directory {
  std::map<std::string, ResolvedMember> users, sps;
  std::map<std::string, std::vector<ScimMember>> groups;
  std::vector<std::vector<std::string>> user_batches, sp_batches;
  std::vector<std::string> group_fetches;
  bool fail_users = false;

  GroupWalkCallbacks callbacks() {
    GroupWalkCallbacks cb;
    cb.resolve = [this](ScimMemberKind kind, const std::vector<std::string>& ids) {
      if (kind == ScimMemberKind::user && fail_users) throw std::runtime_error("HTTP 500");
      auto& table = kind == ScimMemberKind::user ? users : sps;
      (kind == ScimMemberKind::user ? user_batches : sp_batches).push_back(ids);
      std::map<std::string, ResolvedMember> out;
      for (const std::string& id : ids)
        if (auto it = table.find(id); it != table.end()) out[id] = it->second;
      return out;
    };
    cb.nested_members = [this](const std::string& id) -> std::optional<std::vector<ScimMember>> {
      group_fetches.push_back(id);
      auto it = groups.find(id);
      if (it == groups.end()) return std::nullopt;
      return it->second;
    };
    return cb;
  }
};

ScimMember user(const std::string& id) { return {id, ScimMemberKind::user}; }
ScimMember sp(const std::string& id) { return {id, ScimMemberKind::service_principal}; }
ScimMember grp(const std::string& id) { return {id, ScimMemberKind::group}; }
ScimMember unknown(const std::string& id) { return {id, ScimMemberKind::unknown}; }

ScimGroup root(std::vector<ScimMember> members) {
  ScimGroup g;
  g.id = "root";
  g.display_name = "analysts";
  g.members = std::move(members);
  g.members_listed = true;
  return g;
}

TEST(GroupWalk, DirectMembersFoldedSortedUnique) {
  Directory d;
  d.users["u1"] = {"Bob@Example.com", true};
  d.users["u2"] = {"alice@example.com", true};
  d.sps["s1"] = {"A0C1E2D3-0000-4000-8000-00000000C11E", true};
  GroupWalkResult r = walk_group(root({user("u1"), user("u2"), sp("s1"), user("u1")}), d.callbacks(), {}, nullptr);
  EXPECT_EQ(r.identities, (std::vector<std::string>{"a0c1e2d3-0000-4000-8000-00000000c11e", "alice@example.com",
                                                    "bob@example.com"}));
  EXPECT_EQ(r.missing, 0);
  EXPECT_FALSE(r.overflow);
  ASSERT_EQ(d.user_batches.size(), 1u);  // one request for both users, the duplicate asked once
  EXPECT_EQ(d.user_batches[0].size(), 2u);
}

TEST(GroupWalk, ResolvesInBatches) {
  Directory d;
  std::vector<ScimMember> members;
  for (int i = 0; i < 125; i++) {
    d.users["u" + std::to_string(i)] = {"user" + std::to_string(i) + "@example.com", true};
    members.push_back(user("u" + std::to_string(i)));
  }
  GroupWalkLimits limits;
  limits.batch = 50;
  GroupWalkResult r = walk_group(root(members), d.callbacks(), limits, nullptr);
  EXPECT_EQ(r.identities.size(), 125u);
  ASSERT_EQ(d.user_batches.size(), 3u);
  EXPECT_EQ(d.user_batches[0].size(), 50u);
  EXPECT_EQ(d.user_batches[2].size(), 25u);
}

TEST(GroupWalk, NestedGroupsExpandedToTheDepthLimit) {
  Directory d;
  // root -> g1 -> g2 -> g3; each level has one user.
  d.users["u0"] = {"u0@x.com", true};
  d.users["u1"] = {"u1@x.com", true};
  d.users["u2"] = {"u2@x.com", true};
  d.users["u3"] = {"u3@x.com", true};
  d.groups["g1"] = {user("u1"), grp("g2")};
  d.groups["g2"] = {user("u2"), grp("g3")};
  d.groups["g3"] = {user("u3")};
  GroupWalkLimits limits;
  limits.max_depth = 2;  // g1 (depth 1) and g2 (depth 2) expanded, g3 not
  GroupWalkResult r = walk_group(root({user("u0"), grp("g1")}), d.callbacks(), limits, nullptr);
  EXPECT_EQ(r.identities, (std::vector<std::string>{"u0@x.com", "u1@x.com", "u2@x.com"}));
  EXPECT_EQ(r.too_deep, 1);
  EXPECT_EQ(r.unresolved(), 1);
  EXPECT_EQ(d.group_fetches, (std::vector<std::string>{"g1", "g2"}));

  limits.max_depth = 3;
  Directory d2 = d;
  d2.group_fetches.clear();
  r = walk_group(root({user("u0"), grp("g1")}), d2.callbacks(), limits, nullptr);
  EXPECT_EQ(r.identities.size(), 4u);
  EXPECT_EQ(r.too_deep, 0);
}

TEST(GroupWalk, CyclesAreExpandedOnce) {
  Directory d;
  d.users["u1"] = {"u1@x.com", true};
  d.users["u2"] = {"u2@x.com", true};
  d.groups["a"] = {user("u1"), grp("b"), grp("root")};
  d.groups["b"] = {user("u2"), grp("a")};
  GroupWalkResult r = walk_group(root({grp("a")}), d.callbacks(), {}, nullptr);
  EXPECT_EQ(r.identities, (std::vector<std::string>{"u1@x.com", "u2@x.com"}));
  EXPECT_EQ(r.cycles, 2);  // a -> root and b -> a
  EXPECT_EQ(d.group_fetches, (std::vector<std::string>{"a", "b"}));
}

TEST(GroupWalk, UnknownKindTriesUserThenServicePrincipal) {
  Directory d;
  d.users["x1"] = {"x1@x.com", true};
  d.sps["x2"] = {"11111111-2222-3333-4444-555555555555", true};
  GroupWalkResult r = walk_group(root({unknown("x1"), unknown("x2"), unknown("x3")}), d.callbacks(), {}, nullptr);
  EXPECT_EQ(r.identities, (std::vector<std::string>{"11111111-2222-3333-4444-555555555555", "x1@x.com"}));
  EXPECT_EQ(r.missing, 1);  // x3 is neither
  ASSERT_EQ(d.sp_batches.size(), 1u);
  EXPECT_EQ(d.sp_batches[0], (std::vector<std::string>{"x2", "x3"}));  // x1 was found as a user
}

TEST(GroupWalk, MissingMembersAndGroupsAreCounted) {
  Directory d;
  d.users["u1"] = {"u1@x.com", true};
  // u404: deleted, or an account-level user the workspace does not show;
  // g404: an account-level group the workspace does not show.
  GroupWalkResult r = walk_group(root({user("u1"), user("u404"), sp("s404"), grp("g404")}), d.callbacks(), {}, nullptr);
  EXPECT_EQ(r.identities, (std::vector<std::string>{"u1@x.com"}));
  EXPECT_EQ(r.missing, 3);
}

TEST(GroupWalk, InactiveIdentitiesAreLeftOutAndReported) {
  Directory d;
  d.users["u1"] = {"u1@x.com", true};
  d.users["u2"] = {"Erin@x.com", false};
  d.sps["s1"] = {"11111111-2222-3333-4444-555555555555", false};
  d.groups["g"] = {user("u2")};
  GroupWalkResult r = walk_group(root({user("u1"), user("u2"), sp("s1"), grp("g")}), d.callbacks(), {}, nullptr);
  EXPECT_EQ(r.identities, (std::vector<std::string>{"u1@x.com"}));
  EXPECT_EQ(r.inactive, 2);
  EXPECT_EQ(r.deprovisioned, (std::vector<std::string>{"11111111-2222-3333-4444-555555555555", "erin@x.com"}));
}

TEST(GroupWalk, OverflowPublishesNobody) {
  Directory d;
  std::vector<ScimMember> members;
  for (int i = 0; i < 11; i++) {
    d.users["u" + std::to_string(i)] = {"u" + std::to_string(i) + "@x.com", true};
    members.push_back(user("u" + std::to_string(i)));
  }
  GroupWalkLimits limits;
  limits.max_members = 10;
  limits.batch = 4;
  GroupWalkResult r = walk_group(root(members), d.callbacks(), limits, nullptr);
  EXPECT_TRUE(r.overflow);
  EXPECT_TRUE(r.identities.empty());
  limits.max_members = 11;
  r = walk_group(root(members), d.callbacks(), limits, nullptr);
  EXPECT_FALSE(r.overflow);
  EXPECT_EQ(r.identities.size(), 11u);
}

TEST(GroupWalk, MemoResolvesEachMemberOncePerRound) {
  Directory d;
  d.users["u1"] = {"u1@x.com", true};
  d.users["u2"] = {"u2@x.com", true};
  d.groups["shared"] = {user("u2")};
  WalkMemo memo;
  walk_group(root({user("u1"), grp("shared")}), d.callbacks(), {}, &memo);
  walk_group(root({user("u1"), grp("shared"), user("u404")}), d.callbacks(), {}, &memo);
  EXPECT_EQ(d.group_fetches.size(), 1u);
  size_t asked = 0;
  for (const auto& b : d.user_batches) asked += b.size();
  EXPECT_EQ(asked, 3u);  // u1, u2 once; u404 once
  // A new round (memo cleared) sees the workspace as it is now.
  memo.clear();
  d.users["u1"].active = false;
  GroupWalkResult r = walk_group(root({user("u1")}), d.callbacks(), {}, &memo);
  EXPECT_TRUE(r.identities.empty());
  EXPECT_EQ(r.inactive, 1);
}

TEST(GroupWalk, CallbackFailureLeavesTheWalk) {
  Directory d;
  d.fail_users = true;
  EXPECT_THROW(walk_group(root({user("u1")}), d.callbacks(), {}, nullptr), std::runtime_error);
}

TEST(GroupWalk, CancelledWalkPublishesNothing) {
  Directory d;
  d.users["u1"] = {"u1@x.com", true};
  GroupWalkCallbacks cb = d.callbacks();
  cb.cancelled = [] { return true; };
  GroupWalkResult r = walk_group(root({user("u1")}), cb, {}, nullptr);
  EXPECT_TRUE(r.cancelled);
  EXPECT_TRUE(r.identities.empty());
  EXPECT_TRUE(d.user_batches.empty());
}

TEST(GroupWalk, BulkResolveUrlAndPage) {
  const std::string base = "https://h/api/2.0/preview/scim/v2";
  EXPECT_EQ(scim_bulk_resolve_url(base, ScimMemberKind::user, {"1", "2\""}, 1, 50),
            base + "/Users?filter=id%20eq%20%221%22%20or%20id%20eq%20%222%5C%22%22"
                   "&attributes=id%2CuserName%2Cactive&startIndex=1&count=50");
  nlohmann::json page = {{"totalResults", 2},
                         {"startIndex", 1},
                         {"Resources",
                          {{{"id", "1"}, {"userName", "a@x.com"}, {"active", true}},
                           {{"id", "2"}, {"userName", "b@x.com"}, {"active", false}}}}};
  ScimResolvePage p = parse_scim_resolve_page(ScimMemberKind::user, page.dump());
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.resources.size(), 2u);
  EXPECT_EQ(p.resources[1].first, "2");
  EXPECT_FALSE(p.resources[1].second.active);
  std::string error;
  EXPECT_EQ(scim_next_start_index(p, 1, 2, &error), std::nullopt);
  page["Resources"][0].erase("id");
  EXPECT_FALSE(parse_scim_resolve_page(ScimMemberKind::user, page.dump()).ok);
}

TEST(GroupWalk, HiddenMembersAreToldFromAnEmptyGroup) {
  // Databricks shows a non-admin caller only id and displayName.
  EXPECT_TRUE(scim_members_hidden(R"({"id":"7","displayName":"analysts"})"));
  EXPECT_TRUE(scim_members_hidden(
      R"({"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"7","displayName":"analysts"})"));
  // An admin sees meta (and members when there are any): an empty group.
  EXPECT_FALSE(scim_members_hidden(R"({"id":"7","displayName":"analysts","meta":{"resourceType":"Group"}})"));
  EXPECT_FALSE(scim_members_hidden("not json"));
  ScimListPage p = parse_scim_groups_page(R"({"totalResults":1,"Resources":[{"id":"7","displayName":"a"}]})");
  ASSERT_TRUE(p.ok);
  EXPECT_FALSE(p.groups[0].members_listed);
  p = parse_scim_groups_page(R"({"totalResults":1,"Resources":[{"id":"7","displayName":"a","members":[]}]})");
  EXPECT_TRUE(p.groups[0].members_listed);
}

}  // namespace
}  // namespace dbx_oauth::core
