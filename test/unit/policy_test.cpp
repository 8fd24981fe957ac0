// Unit tests for the volume policy engine (src/core/policy.h, file_action.h).
#include "core/file_action.h"
#include "core/policy.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

using namespace dbx_oauth::core;

namespace {

constexpr FileAction kAllActions[] = {
    FileAction::list,   FileAction::read,    FileAction::download, FileAction::raw,   FileAction::exists,
    FileAction::metadata, FileAction::preview, FileAction::upload,   FileAction::mkdir, FileAction::remove,
};

Policy parse_ok(const std::string& text) {
  auto r = parse_policy(text);
  EXPECT_TRUE(r.ok()) << text << " -> " << (r.error ? r.error->to_string() : "");
  return r.ok() ? *r.policy : Policy::public_read();
}

PolicyError parse_err(const std::string& text) {
  auto r = parse_policy(text);
  EXPECT_FALSE(r.ok()) << text;
  return r.error.value_or(PolicyError{});
}

// Records calls; answers from a table; throws for "app.boom".
class FakeFunctions : public PolicyFunctionCaller {
 public:
  std::map<std::string, bool> answers;
  std::vector<std::string> calls;
  std::string last_path, last_volume, last_user;
  bool call(const std::string& fn, FileAction action, const FileResource& r, const PolicyUser& u) override {
    calls.push_back(fn + ":" + std::string(file_action_name(action)));
    last_path = std::string(r.path);
    last_volume = std::string(r.volume);
    last_user = std::string(u.id);
    if (fn == "app.boom") throw std::runtime_error("boom");
    return answers[fn];
  }
};

const PolicyUser kAlice{"alice@example.com", false};
const PolicyUser kSp{"8a4f1c2e-1111-2222-3333-444455556666", true};

bool eval(const Policy& p, FileAction a, std::string_view path = "x.txt", const PolicyUser& u = kAlice,
          std::optional<std::int64_t> size = std::nullopt, PolicyFunctionCaller* fns = nullptr) {
  return p.evaluate(a, FileResource{path, "uploads", size}, u, fns);
}

}  // namespace

// --- file_action -------------------------------------------------------------

TEST(FileAction, NamesRoundTrip) {
  for (FileAction a : kAllActions) EXPECT_EQ(parse_file_action(file_action_name(a)), a);
  EXPECT_EQ(file_action_name(FileAction::remove), "delete");
  EXPECT_FALSE(parse_file_action("Delete"));
  EXPECT_FALSE(parse_file_action("remove"));
  EXPECT_FALSE(parse_file_action(""));
}

TEST(FileAction, ReadAndWriteSets) {
  int reads = 0, writes = 0;
  for (FileAction a : kAllActions) {
    EXPECT_NE(is_read_action(a), is_write_action(a));
    reads += is_read_action(a);
    writes += is_write_action(a);
  }
  EXPECT_EQ(reads, 7);
  EXPECT_EQ(writes, 3);
  EXPECT_TRUE(is_write_action(FileAction::upload));
  EXPECT_TRUE(is_write_action(FileAction::mkdir));
  EXPECT_TRUE(is_write_action(FileAction::remove));
}

// --- built-ins ---------------------------------------------------------------

TEST(PolicyBuiltins, AllowAllDenyAllPublicRead) {
  Policy allow = parse_ok(R"({"allowAll":true})");
  Policy deny = parse_ok(R"({"denyAll":true})");
  Policy pub = parse_ok(R"({"publicRead":true})");
  for (FileAction a : kAllActions) {
    EXPECT_TRUE(eval(allow, a, "x", kSp));
    EXPECT_FALSE(eval(deny, a, "x", kSp));
    EXPECT_EQ(eval(pub, a), is_read_action(a)) << file_action_name(a);
    EXPECT_EQ(eval(Policy::public_read(), a), is_read_action(a));
  }
}

TEST(PolicyBuiltins, ValueMustBeTrue) {
  for (const char* key : {"allowAll", "denyAll", "publicRead", "usersOnly", "servicePrincipalOnly", "ownerPrefix"}) {
    auto e = parse_err(std::string("{\"") + key + "\":false}");
    EXPECT_EQ(e.code, PolicyErrorCode::invalid_value);
    EXPECT_EQ(e.location, std::string("policy.") + key);
    EXPECT_EQ(e.message, "expected true, found false");
    e = parse_err(std::string("{\"") + key + "\":1}");
    EXPECT_EQ(e.message, "expected true, found a number");
  }
}

// --- predicates --------------------------------------------------------------

TEST(PolicyPredicates, UsersOnlyAndServicePrincipalOnly) {
  Policy users = parse_ok(R"({"usersOnly":true})");
  Policy sps = parse_ok(R"({"servicePrincipalOnly":true})");
  EXPECT_TRUE(eval(users, FileAction::upload, "x", kAlice));
  EXPECT_FALSE(eval(users, FileAction::upload, "x", kSp));
  EXPECT_FALSE(eval(sps, FileAction::read, "x", kAlice));
  EXPECT_TRUE(eval(sps, FileAction::read, "x", kSp));
}

TEST(PolicyPredicates, Actions) {
  Policy p = parse_ok(R"({"actions":["upload","delete","list"]})");
  for (FileAction a : kAllActions)
    EXPECT_EQ(eval(p, a), a == FileAction::upload || a == FileAction::remove || a == FileAction::list);
  auto e = parse_err(R"({"actions":["read","wrte"]})");
  EXPECT_EQ(e.location, "policy.actions[1]");
  EXPECT_NE(e.message.find("unknown action \"wrte\""), std::string::npos);
  e = parse_err(R"({"actions":[]})");
  EXPECT_EQ(e.code, PolicyErrorCode::empty_list);
  e = parse_err(R"({"actions":"read"})");
  EXPECT_EQ(e.message, "expected a non-empty array, found a string");
  e = parse_err(R"({"actions":[1]})");
  EXPECT_EQ(e.location, "policy.actions[0]");
}

TEST(PolicyPredicates, UserIn) {
  Policy p = parse_ok(R"({"userIn":["bob@example.com","alice@example.com"]})");
  EXPECT_TRUE(eval(p, FileAction::read, "x", kAlice));
  EXPECT_FALSE(eval(p, FileAction::read, "x", PolicyUser{"ALICE@example.com", false}));  // exact match
  EXPECT_FALSE(eval(p, FileAction::read, "x", PolicyUser{"carol@example.com", false}));
  EXPECT_FALSE(eval(p, FileAction::read, "x", PolicyUser{"", false}));
  EXPECT_EQ(parse_err(R"({"userIn":[]})").code, PolicyErrorCode::empty_list);
  EXPECT_EQ(parse_err(R"({"userIn":[""]})").location, "policy.userIn[0]");
  EXPECT_EQ(parse_err(R"({"userIn":["a",null]})").message, "expected a user id string, found null");
}

TEST(PolicyPredicates, PathPrefix) {
  Policy p = parse_ok(R"({"pathPrefix":"public/"})");
  EXPECT_TRUE(eval(p, FileAction::read, "public/a.txt"));
  EXPECT_TRUE(eval(p, FileAction::read, "public/"));
  EXPECT_FALSE(eval(p, FileAction::read, "public"));
  EXPECT_FALSE(eval(p, FileAction::read, "Public/a.txt"));
  EXPECT_FALSE(eval(p, FileAction::read, "private/public/a.txt"));
  EXPECT_FALSE(eval(p, FileAction::read, ""));
  auto e = parse_err(R"({"pathPrefix":3})");
  EXPECT_EQ(e.to_string(), "policy.pathPrefix: expected a string, found a number");
  EXPECT_EQ(parse_err(R"({"pathPrefix":""})").message, "expected a non-empty string");
}

TEST(PolicyPredicates, MaxSize) {
  Policy p = parse_ok(R"({"maxSize":1048576})");
  EXPECT_TRUE(eval(p, FileAction::upload, "x", kAlice, 1048576));
  EXPECT_FALSE(eval(p, FileAction::upload, "x", kAlice, 1048577));
  EXPECT_TRUE(eval(p, FileAction::upload, "x", kAlice, 0));
  EXPECT_TRUE(eval(p, FileAction::mkdir, "x", kAlice, std::nullopt));  // no size: not constrained
  Policy zero = parse_ok(R"({"maxSize":0})");
  EXPECT_FALSE(eval(zero, FileAction::upload, "x", kAlice, 1));
  EXPECT_TRUE(parse_policy(R"({"maxSize":9223372036854775807})").ok());
  EXPECT_FALSE(parse_policy(R"({"maxSize":9223372036854775808})").ok());
  EXPECT_EQ(parse_err(R"({"maxSize":-1})").message, "expected a non-negative integer");
  EXPECT_EQ(parse_err(R"({"maxSize":1.5})").code, PolicyErrorCode::invalid_value);
  EXPECT_EQ(parse_err(R"({"maxSize":"10"})").message, "expected a non-negative integer, found a string");
}

TEST(PolicyPredicates, OwnerPrefix) {
  Policy p = parse_ok(R"({"ownerPrefix":true})");
  EXPECT_TRUE(eval(p, FileAction::upload, "alice@example.com/notes.txt"));
  EXPECT_TRUE(eval(p, FileAction::list, "alice@example.com"));  // the home folder itself
  EXPECT_FALSE(eval(p, FileAction::upload, "alice@example.com.evil/notes.txt"));
  EXPECT_FALSE(eval(p, FileAction::upload, "alice@example.comx"));
  EXPECT_FALSE(eval(p, FileAction::upload, "bob@example.com/notes.txt"));
  EXPECT_FALSE(eval(p, FileAction::upload, "shared/alice@example.com/x"));
  EXPECT_FALSE(eval(p, FileAction::upload, "/x", PolicyUser{"", false}));
}

TEST(PolicyPredicates, FunctionCallsCallerWithArguments) {
  Policy p = parse_ok(R"({"fn":"app.may_access"})");
  FakeFunctions fns;
  fns.answers["app.may_access"] = true;
  EXPECT_TRUE(eval(p, FileAction::download, "a/b", kAlice, std::nullopt, &fns));
  ASSERT_EQ(fns.calls.size(), 1u);
  EXPECT_EQ(fns.calls[0], "app.may_access:download");
  EXPECT_EQ(fns.last_path, "a/b");
  EXPECT_EQ(fns.last_volume, "uploads");
  EXPECT_EQ(fns.last_user, "alice@example.com");
  fns.answers["app.may_access"] = false;
  EXPECT_FALSE(eval(p, FileAction::download, "a/b", kAlice, std::nullopt, &fns));
  EXPECT_FALSE(eval(p, FileAction::download));  // no caller: fail closed
  // ... for the whole policy, so negating an undecidable fn cannot allow.
  EXPECT_FALSE(eval(parse_ok(R"({"not":{"fn":"app.may_access"}})"), FileAction::download));
  EXPECT_FALSE(eval(parse_ok(R"({"any":[{"not":{"fn":"app.x"}},{"denyAll":true}]})"), FileAction::read));
  EXPECT_TRUE(eval(parse_ok(R"({"not":{"denyAll":true}})"), FileAction::read));  // no fn: caller not needed
  ASSERT_EQ(p.functions().size(), 1u);
  EXPECT_EQ(p.functions()[0], "app.may_access");
}

TEST(PolicyPredicates, FunctionNameForms) {
  auto fn_policy = [](const std::string& name) { return nlohmann::json{{"fn", name}}.dump(); };
  for (const char* ok : {"app.f", "public.may_access", "\"My Schema\".\"f\"\"x\"", "s1.f$2", "_s._f", "App.F"})
    EXPECT_TRUE(parse_policy(fn_policy(ok)).ok()) << ok;
  for (const char* bad : {"f", "", ".f", "s.", "a.b.c", "s.f()", "s.f; drop table x", "1s.f", "\"\".f", "s .f",
                          "\"s.f", "s.f--"}) {
    auto r = parse_policy(fn_policy(bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error->location, "policy.fn");
    EXPECT_NE(r.error->message.find("schema-qualified"), std::string::npos);
  }
  EXPECT_EQ(parse_err(R"({"fn":["a.b"]})").message, "expected a function name string, found an array");
}

// --- combinators -------------------------------------------------------------

TEST(PolicyCombinators, AllAnyNot) {
  Policy all = parse_ok(R"({"all":[{"usersOnly":true},{"actions":["upload"]}]})");
  EXPECT_TRUE(eval(all, FileAction::upload, "x", kAlice));
  EXPECT_FALSE(eval(all, FileAction::upload, "x", kSp));
  EXPECT_FALSE(eval(all, FileAction::read, "x", kAlice));

  Policy any = parse_ok(R"({"any":[{"publicRead":true},{"servicePrincipalOnly":true}]})");
  EXPECT_TRUE(eval(any, FileAction::read, "x", kAlice));
  EXPECT_FALSE(eval(any, FileAction::upload, "x", kAlice));
  EXPECT_TRUE(eval(any, FileAction::upload, "x", kSp));

  Policy notp = parse_ok(R"({"not":{"pathPrefix":"secret/"}})");
  EXPECT_TRUE(eval(notp, FileAction::read, "public/x"));
  EXPECT_FALSE(eval(notp, FileAction::read, "secret/x"));

  Policy single_all = parse_ok(R"({"all":[{"denyAll":true}]})");
  EXPECT_FALSE(eval(single_all, FileAction::read));
  Policy single_any = parse_ok(R"({"any":[{"allowAll":true}]})");
  EXPECT_TRUE(eval(single_any, FileAction::read));
  Policy double_not = parse_ok(R"({"not":{"not":{"allowAll":true}}})");
  EXPECT_TRUE(eval(double_not, FileAction::read));
}

TEST(PolicyCombinators, EmptyListsAreErrors) {
  auto e = parse_err(R"({"all":[]})");
  EXPECT_EQ(e.code, PolicyErrorCode::empty_list);
  EXPECT_EQ(e.to_string(), "policy.all: expected a non-empty array");
  e = parse_err(R"({"any":[{"allowAll":true},{"all":[]}]})");
  EXPECT_EQ(e.to_string(), "policy.any[1].all: expected a non-empty array");
  e = parse_err(R"({"any":{}})");
  EXPECT_EQ(e.to_string(), "policy.any: expected a non-empty array, found an object");
}

TEST(PolicyCombinators, ShortCircuit) {
  FakeFunctions fns;
  // any: first allow decides, the throwing function is never called.
  Policy any = parse_ok(R"({"any":[{"allowAll":true},{"fn":"app.boom"}]})");
  EXPECT_TRUE(eval(any, FileAction::upload, "x", kAlice, std::nullopt, &fns));
  // all: first deny decides.
  Policy all = parse_ok(R"({"all":[{"denyAll":true},{"fn":"app.boom"}]})");
  EXPECT_FALSE(eval(all, FileAction::upload, "x", kAlice, std::nullopt, &fns));
  EXPECT_TRUE(fns.calls.empty());
  // Not decided yet: the function is reached and its exception leaves evaluate().
  Policy reached = parse_ok(R"({"all":[{"allowAll":true},{"fn":"app.boom"}]})");
  EXPECT_THROW(eval(reached, FileAction::upload, "x", kAlice, std::nullopt, &fns), std::runtime_error);
  EXPECT_EQ(fns.calls.size(), 1u);
  // Evaluation order is left to right.
  fns.calls.clear();
  fns.answers = {{"app.a", false}, {"app.b", true}, {"app.c", true}};
  Policy order = parse_ok(R"({"any":[{"fn":"app.a"},{"fn":"app.b"},{"fn":"app.c"}]})");
  EXPECT_TRUE(eval(order, FileAction::read, "x", kAlice, std::nullopt, &fns));
  EXPECT_EQ(fns.calls, (std::vector<std::string>{"app.a:read", "app.b:read"}));
  EXPECT_EQ(order.functions(), (std::vector<std::string>{"app.a", "app.b", "app.c"}));
}

namespace {

// The tree semantics, written directly (recursive, left to right, short
// circuit) to check the compiled evaluation against: same result, same calls.
bool reference_eval(const nlohmann::json& p, FakeFunctions* fns) {
  const std::string& key = p.begin().key();
  const nlohmann::json& val = p.begin().value();
  if (key == "allowAll") return true;
  if (key == "denyAll") return false;
  if (key == "not") return !reference_eval(val, fns);
  if (key == "fn")
    return fns->call(val.get<std::string>(), FileAction::read, FileResource{"x", "uploads", std::nullopt}, kAlice);
  for (const auto& child : val) {
    bool r = reference_eval(child, fns);
    if (key == "all" && !r) return false;
    if (key == "any" && r) return true;
  }
  return key == "all";
}

}  // namespace

TEST(PolicyCombinators, CompiledEvaluationFollowsTheTree) {
  const char* policies[] = {
      R"({"all":[{"fn":"app.a"},{"any":[{"fn":"app.b"},{"not":{"fn":"app.c"}}]}]})",
      R"({"any":[{"not":{"all":[{"fn":"app.a"},{"fn":"app.b"}]}},{"fn":"app.c"}]})",
      R"({"not":{"any":[{"all":[{"fn":"app.a"},{"allowAll":true}]},{"denyAll":true},{"fn":"app.b"}]}})",
      R"({"all":[{"any":[{"fn":"app.a"},{"fn":"app.b"}]},{"any":[{"not":{"fn":"app.c"}},{"fn":"app.a"}]}]})",
      R"({"any":[{"all":[{"not":{"not":{"fn":"app.a"}}},{"fn":"app.b"}]},{"all":[{"fn":"app.c"},{"not":{"allowAll":true}}]}]})",
      R"({"not":{"fn":"app.a"}})",
      R"({"all":[{"allowAll":true},{"not":{"denyAll":true}}]})",
  };
  for (const char* text : policies) {
    Policy p = parse_ok(text);
    for (int bits = 0; bits < 8; ++bits) {
      FakeFunctions compiled, reference;
      compiled.answers = reference.answers = {{"app.a", (bits & 1) != 0}, {"app.b", (bits & 2) != 0},
                                              {"app.c", (bits & 4) != 0}};
      bool want = reference_eval(nlohmann::json::parse(text), &reference);
      EXPECT_EQ(eval(p, FileAction::read, "x", kAlice, std::nullopt, &compiled), want) << text << " bits " << bits;
      EXPECT_EQ(compiled.calls, reference.calls) << text << " bits " << bits;
    }
  }
}

TEST(PolicyCombinators, TypicalAppKitPolicies) {
  // policy.any(policy.publicRead(), (a, r, u) => !u.isServicePrincipal && r.path.startsWith(`${u.id}/`))
  Policy home = parse_ok(
      R"({"any":[{"publicRead":true},{"all":[{"usersOnly":true},{"ownerPrefix":true}]}]})");
  EXPECT_TRUE(eval(home, FileAction::read, "bob@example.com/x", kAlice));
  EXPECT_TRUE(eval(home, FileAction::upload, "alice@example.com/x", kAlice));
  EXPECT_FALSE(eval(home, FileAction::upload, "bob@example.com/x", kAlice));
  EXPECT_FALSE(eval(home, FileAction::upload, "8a4f1c2e-1111-2222-3333-444455556666/x", kSp));
}

// --- structural errors -------------------------------------------------------

TEST(PolicyErrors, Locations) {
  EXPECT_EQ(parse_err(R"({"all":[{"allowAll":true},{"pathPrefix":1}]})").to_string(),
            "policy.all[1].pathPrefix: expected a string, found a number");
  EXPECT_EQ(parse_err(R"({"not":{"any":[{"usersOnly":true},{"bogus":1}]}})").to_string(),
            "policy.not.any[1]: unknown key \"bogus\" (expected allowAll, denyAll, publicRead, all, any, not, "
            "usersOnly, servicePrincipalOnly, actions, userIn, pathPrefix, maxSize, ownerPrefix or fn)");
  EXPECT_EQ(parse_err(R"({"all":[{"allowAll":true}, 3]})").to_string(),
            "policy.all[1]: expected a policy object, found a number");
  EXPECT_EQ(parse_err(R"({"not":null})").to_string(), "policy.not: expected a policy object, found null");
}

TEST(PolicyErrors, TopLevel) {
  EXPECT_EQ(parse_err("[]").to_string(), "policy: expected a policy object, found an array");
  EXPECT_EQ(parse_err("true").code, PolicyErrorCode::not_an_object);
  EXPECT_EQ(parse_err("\"publicRead\"").code, PolicyErrorCode::not_an_object);
  EXPECT_EQ(parse_err("{}").to_string(), "policy: expected exactly one key, found none");
  auto e = parse_err(R"({"usersOnly":true,"actions":["read"]})");
  EXPECT_EQ(e.code, PolicyErrorCode::key_count);
  EXPECT_NE(e.message.find("found 2"), std::string::npos);
  EXPECT_NE(e.message.find("\"actions\""), std::string::npos);
  EXPECT_EQ(parse_err(R"({"AllowAll":true})").code, PolicyErrorCode::unknown_key);  // case-sensitive
}

TEST(PolicyErrors, InvalidJson) {
  for (const char* bad : {"", "{", "{\"allowAll\":true} x", "{'allowAll':true}", "nul"}) {
    auto e = parse_err(bad);
    EXPECT_EQ(e.code, PolicyErrorCode::invalid_json) << bad;
    EXPECT_EQ(e.message.rfind("invalid JSON: ", 0), 0u) << e.message;
  }
}

TEST(PolicyErrors, Depth) {
  auto nested = [](int levels) {
    std::string s;
    for (int i = 1; i < levels; ++i) s += R"({"not":)";
    s += R"({"allowAll":true})";
    for (int i = 1; i < levels; ++i) s += "}";
    return s;
  };
  EXPECT_TRUE(parse_policy(nested(kMaxPolicyDepth)).ok());
  EXPECT_EQ(parse_err(nested(kMaxPolicyDepth + 1)).code, PolicyErrorCode::too_deep);
  EXPECT_EQ(parse_err(nested(5000)).code, PolicyErrorCode::too_deep);  // no stack trouble

  std::string arrays;
  for (int i = 0; i < 100000; ++i) arrays += "[";
  for (int i = 0; i < 100000; ++i) arrays += "]";
  auto r = parse_policy(arrays);
  EXPECT_FALSE(r.ok());
}

TEST(PolicyErrors, MessagesDoNotEchoControlBytes) {
  auto e = parse_err(std::string("{\"x\\n\\u0001\\\"\":true}"));
  EXPECT_EQ(e.message.find('\n'), std::string::npos);
  EXPECT_EQ(e.message.find('\x01'), std::string::npos);
}

// --- cache -------------------------------------------------------------------

TEST(PolicyCacheTest, FindInsertClear) {
  PolicyCache cache(2);
  EXPECT_EQ(cache.find("k1"), nullptr);
  auto p1 = cache.insert("k1", parse_ok(R"({"allowAll":true})"));
  EXPECT_EQ(cache.find("k1"), p1);
  auto again = cache.insert("k1", parse_ok(R"({"denyAll":true})"));
  EXPECT_EQ(again, p1);  // first wins
  auto gen = cache.generation();
  cache.insert("k2", parse_ok(R"({"denyAll":true})"));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.generation(), gen);
  cache.insert("k3", parse_ok(R"({"denyAll":true})"));  // full: cleared first
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_NE(cache.generation(), gen);
  EXPECT_EQ(cache.find("k1"), nullptr);
  EXPECT_TRUE(p1->evaluate(FileAction::upload, FileResource{"x", "v", {}}, kAlice, nullptr));  // holder survives
}

TEST(PolicyCacheTest, KeysCompareExactly) {
  PolicyCache cache;
  cache.insert(std::string("a\0b", 3), parse_ok(R"({"allowAll":true})"));
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_NE(cache.find(std::string("a\0b", 3)), nullptr);
}

// --- policy-user matrix ------------------------------------------------------

namespace {
PolicyUserDecision decide(VolumeAuthMode mode, std::optional<std::string_view> user, bool token, bool programmatic,
                          bool dev) {
  return decide_policy_user(PolicyUserRequest{mode, user, token, programmatic, dev});
}
constexpr auto SP = VolumeAuthMode::service_principal;
constexpr auto OBO = VolumeAuthMode::on_behalf_of_user;
}  // namespace

TEST(PolicyUserMatrix, ServicePrincipalVolume) {
  for (bool dev : {false, true})
    for (bool token : {false, true}) {
      auto d = decide(SP, "alice@example.com", token, false, dev);
      EXPECT_EQ(d.outcome, PolicyUserOutcome::user);
      EXPECT_EQ(d.user_id, "alice@example.com");
      EXPECT_FALSE(d.is_service_principal());
      d = decide(SP, std::nullopt, token, false, dev);
      EXPECT_EQ(d.outcome, PolicyUserOutcome::service_principal);
      EXPECT_EQ(d.reason, PolicyUserReason::no_user_header);
    }
  EXPECT_EQ(decide(SP, "   ", false, false, false).outcome, PolicyUserOutcome::service_principal);  // blank header
  EXPECT_EQ(decide(SP, " alice@example.com\t", false, false, false).user_id, "alice@example.com");   // trimmed
}

TEST(PolicyUserMatrix, OnBehalfOfUserVolume) {
  auto d = decide(OBO, "alice@example.com", true, false, false);
  EXPECT_EQ(d.outcome, PolicyUserOutcome::user);
  EXPECT_EQ(d.user_id, "alice@example.com");
  // Token missing: 401 in production, SP in development.
  d = decide(OBO, "alice@example.com", false, false, false);
  EXPECT_EQ(d.outcome, PolicyUserOutcome::unauthorized);
  EXPECT_EQ(d.reason, PolicyUserReason::missing_token);
  EXPECT_EQ(decide(OBO, std::nullopt, false, false, false).outcome, PolicyUserOutcome::unauthorized);
  d = decide(OBO, "alice@example.com", false, false, true);
  EXPECT_EQ(d.outcome, PolicyUserOutcome::service_principal);
  EXPECT_EQ(d.reason, PolicyUserReason::dev_fallback);
  EXPECT_EQ(decide(OBO, std::nullopt, false, false, true).outcome, PolicyUserOutcome::service_principal);
  // Token without user: 401 even in development.
  for (bool dev : {false, true}) {
    d = decide(OBO, std::nullopt, true, false, dev);
    EXPECT_EQ(d.outcome, PolicyUserOutcome::unauthorized);
    EXPECT_EQ(d.reason, PolicyUserReason::missing_user);
    EXPECT_EQ(decide(OBO, "", true, false, dev).outcome, PolicyUserOutcome::unauthorized);
  }
}

TEST(PolicyUserMatrix, Programmatic) {
  for (auto mode : {SP, OBO}) {
    // asUser(req) with both headers: the user.
    auto d = decide(mode, "alice@example.com", true, true, false);
    EXPECT_EQ(d.outcome, PolicyUserOutcome::user);
    // Without a user: the service principal (direct call).
    for (bool token : {false, true})
      for (bool dev : {false, true})
        EXPECT_EQ(decide(mode, std::nullopt, token, true, dev).outcome, PolicyUserOutcome::service_principal);
    // User header without token: 401 in production (no SP-credentials-with-user-identity confusion).
    EXPECT_EQ(decide(mode, "alice@example.com", false, true, false).outcome, PolicyUserOutcome::unauthorized);
    d = decide(mode, "alice@example.com", false, true, true);
    EXPECT_EQ(d.outcome, PolicyUserOutcome::service_principal);
    EXPECT_EQ(d.reason, PolicyUserReason::dev_fallback);
  }
}

TEST(PolicyUserMatrix, AuthModeNames) {
  EXPECT_EQ(parse_volume_auth_mode("service-principal"), SP);
  EXPECT_EQ(parse_volume_auth_mode("on-behalf-of-user"), OBO);
  EXPECT_FALSE(parse_volume_auth_mode("obo"));
  EXPECT_EQ(volume_auth_mode_name(OBO), "on-behalf-of-user");
  EXPECT_STREQ(policy_user_reason_name(PolicyUserReason::dev_fallback), "dev_fallback");
}
