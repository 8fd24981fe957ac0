// SCIM: URLs and filter escaping, ListResponse pages, paging, group
// selection, member resources and error texts.
#include "core/scim.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace dbx_oauth::core {
namespace {

const std::string kBase = "https://adb-1.2.azuredatabricks.net/api/2.0/preview/scim/v2";

TEST(Scim, BaseUrlIsTheIssuerOrigin) {
  EXPECT_EQ(scim_base_url("https://adb-1.2.azuredatabricks.net/oidc"), kBase);
  EXPECT_EQ(scim_base_url("https://127.0.0.1:4443/oidc"), "https://127.0.0.1:4443/api/2.0/preview/scim/v2");
  EXPECT_EQ(scim_base_url("not a url"), std::nullopt);
}

TEST(Scim, FilterValueIsQuotedAndEncoded) {
  EXPECT_EQ(scim_quote("analysts"), "\"analysts\"");
  EXPECT_EQ(scim_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(scim_quote(std::string("x\ny", 3)), "\"x\\u000ay\"");
  const std::string url = scim_groups_page_url(kBase, "data \"eng\" & co", 1, 100);
  EXPECT_EQ(url, kBase +
                     "/Groups?filter=displayName%20eq%20%22data%20%5C%22eng%5C%22%20%26%20co%22"
                     "&attributes=id%2CdisplayName%2Cmembers&startIndex=1&count=100");
  // Nothing in the name can add a query parameter or end the filter early.
  const std::string evil = scim_groups_page_url(kBase, "x\" or userName pr&count=1#", 1, 100);
  EXPECT_EQ(evil.find('#'), std::string::npos);
  EXPECT_EQ(evil.find("&count=1&"), std::string::npos);
  EXPECT_EQ(scim_resource_url(kBase, ScimMemberKind::user, "12/../34"),
            kBase + "/Users/12%2F..%2F34?attributes=userName%2Cactive");
  EXPECT_EQ(scim_resource_url(kBase, ScimMemberKind::service_principal, "7"),
            kBase + "/ServicePrincipals/7?attributes=applicationId%2Cactive");
}

std::string page(int64_t total, int64_t start, nlohmann::json resources) {
  return nlohmann::json{{"schemas", {"urn:ietf:params:scim:api:messages:2.0:ListResponse"}},
                        {"totalResults", total},
                        {"startIndex", start},
                        {"itemsPerPage", resources.size()},
                        {"Resources", resources}}
      .dump();
}

nlohmann::json group(const std::string& id, const std::string& name, nlohmann::json members) {
  return {{"id", id}, {"displayName", name}, {"members", members}};
}

TEST(Scim, ParsesAPageWithMemberKinds) {
  auto p = parse_scim_groups_page(page(
      1, 1,
      nlohmann::json::array({group("g1", "analysts",
             {{{"value", "u1"}, {"display", "Alice Smith"}, {"$ref", "Users/u1"}},
              {{"value", "s1"}, {"display", "etl"}, {"$ref", "ServicePrincipals/s1"}},
              {{"value", "g2"}, {"$ref", "https://h/api/2.0/preview/scim/v2/Groups/g2"}},
              {{"value", "x"}}})})));
  ASSERT_TRUE(p.ok) << p.error;
  ASSERT_EQ(p.groups.size(), 1u);
  const auto& m = p.groups[0].members;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].kind, ScimMemberKind::user);
  EXPECT_EQ(m[0].id, "u1");
  EXPECT_EQ(m[1].kind, ScimMemberKind::service_principal);
  EXPECT_EQ(m[2].kind, ScimMemberKind::group);
  EXPECT_EQ(m[3].kind, ScimMemberKind::unknown);
  EXPECT_EQ(p.total_results, 1);
  EXPECT_EQ(p.items, 1);
}

TEST(Scim, RejectsBrokenPages) {
  EXPECT_FALSE(parse_scim_groups_page("not json").ok);
  EXPECT_FALSE(parse_scim_groups_page("[]").ok);
  EXPECT_FALSE(parse_scim_groups_page(R"({"Resources":[]})").ok);  // no totalResults
  EXPECT_FALSE(parse_scim_groups_page(R"({"totalResults":1,"Resources":{}})").ok);
  EXPECT_FALSE(parse_scim_groups_page(R"({"totalResults":1,"Resources":[{"id":"1"}]})").ok);
  EXPECT_FALSE(parse_scim_groups_page(
                   R"({"totalResults":1,"Resources":[{"id":"1","displayName":"a","members":[{"display":"x"}]}]})")
                   .ok);
  EXPECT_FALSE(parse_scim_groups_page(R"({"totalResults":1,"Resources":[{"id":"1","displayName":"a","members":{}}]})").ok);
  auto empty = parse_scim_groups_page(R"({"totalResults":"0"})");
  ASSERT_TRUE(empty.ok) << empty.error;
  EXPECT_EQ(empty.items, 0);
}

TEST(Scim, PagingFollowsStartIndexUntilEverythingIsSeen) {
  std::string error;
  auto p1 = parse_scim_groups_page(page(3, 1, nlohmann::json::array({group("1", "a", nlohmann::json::array()),
                                                                 group("2", "A", nlohmann::json::array())})));
  ASSERT_TRUE(p1.ok);
  EXPECT_EQ(scim_next_start_index(p1, 1, 2, &error), 3);
  auto p2 = parse_scim_groups_page(page(3, 3, nlohmann::json::array({group("3", "a ", nlohmann::json::array())})));
  EXPECT_EQ(scim_next_start_index(p2, 3, 3, &error), std::nullopt);
  EXPECT_TRUE(error.empty());
  // An empty page ends the listing even if totalResults promised more.
  auto p3 = parse_scim_groups_page(page(10, 4, nlohmann::json::array()));
  EXPECT_EQ(scim_next_start_index(p3, 4, 3, &error), std::nullopt);
  // A server ignoring startIndex would loop forever: an error.
  EXPECT_EQ(scim_next_start_index(p1, 3, 4, &error), std::nullopt);
  EXPECT_FALSE(error.empty());
}

TEST(Scim, SelectsTheExactlyNamedGroup) {
  std::vector<ScimGroup> groups{{"1", "Analysts", {}}, {"2", "analysts", {}}, {"3", "analysts2", {}}};
  std::string error;
  auto g = scim_select_group(groups, "analysts", &error);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->id, "2");
  EXPECT_FALSE(scim_select_group(groups, "nope", &error).has_value());
  EXPECT_TRUE(error.empty());
  groups.push_back({"4", "analysts", {}});
  EXPECT_FALSE(scim_select_group(groups, "analysts", &error).has_value());
  EXPECT_FALSE(error.empty());
}

TEST(Scim, ParsesMemberResources) {
  auto u = parse_scim_resource(ScimMemberKind::user, R"({"id":"1","userName":"Alice@Example.com","active":true})");
  ASSERT_TRUE(u.ok) << u.error;
  EXPECT_EQ(u.identity, "Alice@Example.com");
  EXPECT_TRUE(u.active);
  EXPECT_EQ(fold_member_identity(u.identity), "alice@example.com");
  auto s = parse_scim_resource(ScimMemberKind::service_principal,
                               R"({"id":"2","applicationId":"6A1B2C3D-0000-4000-8000-000000000001","active":false})");
  ASSERT_TRUE(s.ok);
  EXPECT_FALSE(s.active);
  EXPECT_EQ(fold_member_identity(s.identity), "6a1b2c3d-0000-4000-8000-000000000001");
  auto g = parse_scim_resource(ScimMemberKind::group, R"({"id":"3","members":[{"value":"1","$ref":"Users/1"}]})");
  ASSERT_TRUE(g.ok);
  ASSERT_EQ(g.members.size(), 1u);
  // displayName is not an identity: a user resource needs userName.
  EXPECT_FALSE(parse_scim_resource(ScimMemberKind::user, R"({"id":"1","displayName":"bob@example.com"})").ok);
  EXPECT_FALSE(parse_scim_resource(ScimMemberKind::user, R"({"userName":"a\nb"})").ok);
  EXPECT_FALSE(parse_scim_resource(ScimMemberKind::user, R"({"userName":"a","active":"yes"})").ok);
  EXPECT_FALSE(parse_scim_resource(ScimMemberKind::user, "[]").ok);
}

TEST(Scim, ErrorTextIsShortAndPrintable) {
  EXPECT_EQ(scim_error_text(401, R"({"detail":"Invalid access token: expired","status":"401"})"),
            "SCIM answered HTTP 401: Invalid access token: expired");
  EXPECT_EQ(scim_error_text(400, R"({"scimType":"invalidFilter","detail":"bad\nfilter"})"),
            "SCIM answered HTTP 400 invalidFilter: bad?filter");
  EXPECT_EQ(scim_error_text(502, "<html>"), "SCIM answered HTTP 502");
  EXPECT_LE(scim_error_text(500, nlohmann::json{{"detail", std::string(5000, 'x')}}.dump()).size(), 200u);
}

}  // namespace
}  // namespace dbx_oauth::core
