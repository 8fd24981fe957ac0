// The eviction rules (src/core/eviction_rules.h): each rule and its order,
// the grace, 0 = off, connection pressure (oldest idle first, exactly
// enough, never busy sessions), ties, and a clock that goes backwards.
#include "core/eviction_rules.h"

#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <limits>
#include <vector>

using namespace dbx_oauth::core;

namespace {

constexpr int64_t kSecond = 1000000;                 // microseconds
constexpr int64_t kNow = 850000000LL * kSecond;      // a fixed clock (TimestampTz-like)

SessionRecord idle(int pid, int64_t idle_since) {
  SessionRecord s;
  s.pid = pid;
  s.state = SessionState::idle;
  s.state_since = idle_since;
  s.started = idle_since - kSecond;
  return s;
}

SessionRecord active(int pid, int64_t since) {
  SessionRecord s = idle(pid, since);
  s.state = SessionState::active;
  return s;
}

// Every rule on, none due for a fresh session.
EvictionSettings all_on() {
  EvictionSettings s;
  s.terminate_expired = true;
  s.expired_session_grace = 0;
  s.idle_session_timeout = 60;
  s.max_session_age = 3600;
  s.evict_idle_above = 0;
  return s;
}

std::vector<int> pids_of(const std::vector<EvictionDecision>& decisions) {
  std::vector<int> pids;
  for (const EvictionDecision& d : decisions)
    pids.push_back(d.pid);
  return pids;
}

// The single rule verdict for one session, or nothing.
std::vector<EvictionDecision> rules(const SessionRecord& s, const EvictionSettings& settings,
                                    int64_t now = kNow) {
  return rule_evictions({s}, settings, now);
}

}  // namespace

TEST(EvictionRules, FreshSessionsAreKept) {
  std::vector<SessionRecord> sessions = {idle(1, kNow - kSecond), active(2, kNow - 10 * kSecond)};
  sessions[0].token_expires_at = kNow + 60 * kSecond;
  EXPECT_TRUE(rule_evictions(sessions, all_on(), kNow).empty());
  EXPECT_TRUE(decide_evictions(sessions, all_on(), kNow, 2, 100).empty());
}

TEST(EvictionRules, RevokedEndsAtOnceWhateverTheSettings) {
  SessionRecord s = active(7, kNow);
  s.revoked = true;
  const auto d = rules(s, EvictionSettings{});  // every setting off
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].pid, 7);
  EXPECT_EQ(d[0].index, 0u);
  EXPECT_EQ(d[0].reason, EvictionReason::revoked);
}

TEST(EvictionRules, ExpiredTokenEndsWhenActionIsTerminate) {
  SessionRecord s = active(3, kNow);
  s.token_expires_at = kNow - 1;
  const auto d = rules(s, all_on());
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason, EvictionReason::token_expired);

  EvictionSettings none = all_on();
  none.terminate_expired = false;  // expired_session_action = none
  EXPECT_TRUE(rules(s, none).empty()) << "the session outlives its token";
}

TEST(EvictionRules, ExpiryIsStrictlyAfter) {
  SessionRecord s = active(3, kNow);
  s.token_expires_at = kNow;
  EXPECT_TRUE(rules(s, all_on()).empty()) << "at the expiry instant the token still counts";
  EXPECT_EQ(rules(s, all_on(), kNow + 1).size(), 1u);
}

TEST(EvictionRules, UnknownExpiryNeverExpires) {
  SessionRecord s = active(3, kNow);
  s.token_expires_at = 0;
  EvictionSettings only_expiry;
  only_expiry.terminate_expired = true;
  EXPECT_TRUE(rules(s, only_expiry, kNow + 1000000 * kSecond).empty());
}

TEST(EvictionRules, GraceDelaysExpiry) {
  SessionRecord s = active(3, kNow);
  s.token_expires_at = kNow - 10 * kSecond;
  EvictionSettings settings;
  settings.terminate_expired = true;
  settings.expired_session_grace = 10;
  EXPECT_TRUE(rules(s, settings).empty()) << "exactly at the end of the grace: kept";
  EXPECT_EQ(rules(s, settings, kNow + 1).size(), 1u) << "one microsecond later: ended";
  settings.expired_session_grace = 11;
  EXPECT_TRUE(rules(s, settings).empty());
  settings.expired_session_grace = 9;
  ASSERT_EQ(rules(s, settings).size(), 1u);
  EXPECT_EQ(rules(s, settings)[0].reason, EvictionReason::token_expired);
  settings.expired_session_grace = 0;  // 0 = no grace, not "off"
  EXPECT_EQ(rules(s, settings).size(), 1u);
}

TEST(EvictionRules, SessionAgeEndsEvenBusySessions) {
  SessionRecord s = active(4, kNow);
  s.started = kNow - 3600 * kSecond - 1;
  s.has_xid = true;
  const auto d = rules(s, all_on());
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason, EvictionReason::session_age);

  s.started = kNow - 3600 * kSecond;
  EXPECT_TRUE(rules(s, all_on()).empty()) << "exactly max_session_age old: kept";
}

TEST(EvictionRules, SessionAgeZeroIsOff) {
  SessionRecord s = active(4, kNow);
  s.started = 0;  // started at the epoch: as old as it gets
  EvictionSettings settings = all_on();
  settings.max_session_age = 0;
  EXPECT_TRUE(rules(s, settings).empty());
}

TEST(EvictionRules, IdleTimeoutEndsIdleSessions) {
  const SessionRecord s = idle(5, kNow - 61 * kSecond);
  const auto d = rules(s, all_on());
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].reason, EvictionReason::idle);
  EXPECT_TRUE(rules(idle(5, kNow - 60 * kSecond), all_on()).empty()) << "exactly the timeout: kept";
}

TEST(EvictionRules, IdleTimeoutZeroIsOff) {
  EvictionSettings settings = all_on();
  settings.idle_session_timeout = 0;
  SessionRecord s = idle(5, kNow - 1000 * kSecond);
  s.started = kNow - 1000 * kSecond;
  EXPECT_TRUE(rules(s, settings).empty());
}

TEST(EvictionRules, IdleTimeoutNeverEndsActiveSessions) {
  for (SessionState state : {SessionState::active, SessionState::other}) {
    SessionRecord s = idle(5, kNow - 1000 * kSecond);
    s.started = kNow - 1000 * kSecond;
    s.state = state;
    EXPECT_TRUE(rules(s, all_on()).empty()) << static_cast<int>(state);
  }
}

TEST(EvictionRules, IdleTimeoutEndsIdleTransactionsEvenWithAnXid) {
  // An idle transaction holds locks and snapshots: the timeout ends it
  // whether or not it wrote (pressure never does, see below).
  for (SessionState state : {SessionState::idle_in_transaction, SessionState::idle_in_transaction_aborted}) {
    for (bool xid : {false, true}) {
      SessionRecord s = idle(6, kNow - 61 * kSecond);
      s.state = state;
      s.has_xid = xid;
      const auto d = rules(s, all_on());
      ASSERT_EQ(d.size(), 1u) << static_cast<int>(state) << " xid=" << xid;
      EXPECT_EQ(d[0].reason, EvictionReason::idle);
    }
  }
}

TEST(EvictionRules, FirstRuleWinsInOrder) {
  SessionRecord s = idle(9, kNow - 7200 * kSecond);
  s.started = kNow - 7200 * kSecond;
  s.token_expires_at = kNow - kSecond;
  s.revoked = true;
  EvictionSettings settings = all_on();
  EXPECT_EQ(rules(s, settings)[0].reason, EvictionReason::revoked);
  s.revoked = false;
  EXPECT_EQ(rules(s, settings)[0].reason, EvictionReason::token_expired);
  s.token_expires_at = 0;
  EXPECT_EQ(rules(s, settings)[0].reason, EvictionReason::session_age);
  settings.max_session_age = 0;
  EXPECT_EQ(rules(s, settings)[0].reason, EvictionReason::idle);
  settings.idle_session_timeout = 0;
  EXPECT_TRUE(rules(s, settings).empty());
}

TEST(EvictionRules, DecisionsKeepInputOrderAndIndexes) {
  std::vector<SessionRecord> sessions = {idle(10, kNow - 100 * kSecond), active(11, kNow),
                                         idle(12, kNow - 100 * kSecond)};
  const auto d = rule_evictions(sessions, all_on(), kNow);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].index, 0u);
  EXPECT_EQ(d[0].pid, 10);
  EXPECT_EQ(d[1].index, 2u);
  EXPECT_EQ(d[1].pid, 12);
}

TEST(EvictionRules, ClockGoingBackwardsEvictsNothing) {
  // The snapshot's times are later than "now": no rule is past due.
  SessionRecord s = idle(13, kNow + 100 * kSecond);
  s.started = kNow + 100 * kSecond;
  s.token_expires_at = kNow + 50 * kSecond;
  EvictionSettings settings = all_on();
  settings.idle_session_timeout = 1;
  settings.max_session_age = 1;
  EXPECT_TRUE(rules(s, settings).empty());
  EXPECT_TRUE(on_demand_evictions({s}, 0, kNow, 0).empty());
}

TEST(EvictionRules, FarFutureBoundsDoNotWrap) {
  SessionRecord s = active(14, kNow);
  s.token_expires_at = std::numeric_limits<int64_t>::max() - kSecond;
  EvictionSettings settings;
  settings.terminate_expired = true;
  settings.expired_session_grace = 7 * 86400;
  EXPECT_TRUE(rules(s, settings).empty()) << "expiry + grace overflowed into the past";
  settings.max_session_age = INT_MAX;
  settings.idle_session_timeout = INT_MAX;
  s.started = kNow;
  EXPECT_TRUE(rules(s, settings).empty());
  EXPECT_TRUE(on_demand_evictions({idle(15, kNow - kSecond)}, std::numeric_limits<int64_t>::max(), kNow, 0).empty());
}

// ---- connection pressure ----

TEST(EvictionPressure, ZeroIsOff) {
  EvictionSettings settings;
  settings.evict_idle_above = 0;
  const std::vector<SessionRecord> sessions = {idle(1, kNow - kSecond)};
  const PressurePlan plan = pressure_evictions(sessions, settings, 1000, 10, {});
  EXPECT_EQ(plan.needed, 0);
  EXPECT_TRUE(plan.candidates.empty());
}

TEST(EvictionPressure, NothingAtOrBelowTheThreshold) {
  EvictionSettings settings;
  settings.evict_idle_above = 50;
  const std::vector<SessionRecord> sessions = {idle(1, kNow - kSecond)};
  EXPECT_EQ(pressure_evictions(sessions, settings, 10, 20, {}).needed, 0) << "10 of 20 is not above 50%";
  EXPECT_EQ(pressure_evictions(sessions, settings, 11, 20, {}).needed, 1);
  settings.evict_idle_above = 100;
  EXPECT_EQ(pressure_evictions(sessions, settings, 20, 20, {}).needed, 0);
}

TEST(EvictionPressure, ThresholdRoundsDown) {
  EvictionSettings settings;
  settings.evict_idle_above = 50;
  const std::vector<SessionRecord> sessions = {idle(1, kNow - kSecond)};
  // 50% of 15 connections is 7 (integer percent of max_connections).
  EXPECT_EQ(pressure_evictions(sessions, settings, 7, 15, {}).needed, 0);
  EXPECT_EQ(pressure_evictions(sessions, settings, 8, 15, {}).needed, 1);
}

TEST(EvictionPressure, OldestIdleFirstExactlyEnough) {
  EvictionSettings settings;
  settings.evict_idle_above = 50;
  const std::vector<SessionRecord> sessions = {idle(1, kNow - 20 * kSecond), idle(2, kNow - 50 * kSecond),
                                               idle(3, kNow - 10 * kSecond), idle(4, kNow - 40 * kSecond),
                                               idle(5, kNow - 30 * kSecond)};
  // 13 client backends against a threshold of 10: three must go.
  const auto d = decide_evictions(sessions, settings, kNow, 13, 20);
  EXPECT_EQ(pids_of(d), (std::vector<int>{2, 4, 5}));
  for (const EvictionDecision& e : d)
    EXPECT_EQ(e.reason, EvictionReason::pressure);

  const PressurePlan plan = pressure_evictions(sessions, settings, 13, 20, {});
  EXPECT_EQ(plan.needed, 3);
  EXPECT_EQ(plan.candidates, (std::vector<std::size_t>{1, 3, 4, 0, 2}))
      << "every idle session is a candidate, so the next one goes when one is already gone";
}

TEST(EvictionPressure, NeverActiveNorWrittenTransactions) {
  EvictionSettings settings;
  settings.evict_idle_above = 50;
  std::vector<SessionRecord> sessions = {active(1, kNow - 500 * kSecond), idle(2, kNow - 400 * kSecond),
                                         idle(3, kNow - 300 * kSecond), idle(4, kNow - 200 * kSecond),
                                         idle(5, kNow - 100 * kSecond)};
  sessions[1].has_xid = true;                            // idle in a transaction that wrote
  sessions[1].state = SessionState::idle_in_transaction;
  sessions[2].state = SessionState::idle_in_transaction;  // read-only transaction: may go
  sessions[3].state = SessionState::other;
  const auto d = decide_evictions(sessions, settings, kNow, 100, 20);
  EXPECT_EQ(pids_of(d), (std::vector<int>{3, 5})) << "only two may go, however many are needed";
}

TEST(EvictionPressure, AbortedIdleTransactionMayGo) {
  EvictionSettings settings;
  settings.evict_idle_above = 50;
  SessionRecord s = idle(1, kNow - kSecond);
  s.state = SessionState::idle_in_transaction_aborted;
  EXPECT_EQ(pids_of(decide_evictions({s}, settings, kNow, 11, 20)), (std::vector<int>{1}));
}

TEST(EvictionPressure, TiesKeepSnapshotOrder) {
  EvictionSettings settings;
  settings.evict_idle_above = 50;
  const int64_t t = kNow - 30 * kSecond;
  const std::vector<SessionRecord> sessions = {idle(8, t), idle(6, t), idle(7, kNow - 60 * kSecond), idle(9, t)};
  EXPECT_EQ(pids_of(decide_evictions(sessions, settings, kNow, 12, 20)), (std::vector<int>{7, 8}));
  EXPECT_EQ(pids_of(decide_evictions(sessions, settings, kNow, 14, 20)), (std::vector<int>{7, 8, 6, 9}));
}

TEST(EvictionPressure, RuleEvictionsCountAndAreNotCandidates) {
  EvictionSettings settings = all_on();
  settings.evict_idle_above = 50;
  // pid 1 idled past the timeout: the rules end it; 12 backends - 1 = 11 > 10.
  const std::vector<SessionRecord> sessions = {idle(1, kNow - 100 * kSecond), idle(2, kNow - 20 * kSecond),
                                               idle(3, kNow - 30 * kSecond)};
  const auto d = decide_evictions(sessions, settings, kNow, 12, 20);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].pid, 1);
  EXPECT_EQ(d[0].reason, EvictionReason::idle);
  EXPECT_EQ(d[1].pid, 3);
  EXPECT_EQ(d[1].reason, EvictionReason::pressure);
  EXPECT_TRUE(decide_evictions(sessions, settings, kNow, 11, 20).size() == 1u)
      << "the rule eviction alone brings 11 down to 10";
}

TEST(EvictionPressure, RuleEvictionThatDidNotTakeEffectStaysACandidate) {
  EvictionSettings settings;
  settings.evict_idle_above = 50;
  const std::vector<SessionRecord> sessions = {idle(1, kNow - 100 * kSecond), idle(2, kNow - 20 * kSecond)};
  // The glue reports which rule evictions took effect; here none did.
  PressurePlan plan = pressure_evictions(sessions, settings, 12, 20, {});
  EXPECT_EQ(plan.needed, 2);
  EXPECT_EQ(plan.candidates, (std::vector<std::size_t>{0, 1}));
  plan = pressure_evictions(sessions, settings, 12, 20, {0});
  EXPECT_EQ(plan.needed, 1);
  EXPECT_EQ(plan.candidates, (std::vector<std::size_t>{1}));
}

TEST(EvictionPressure, FutureStateChangeCountsAsLeastIdle) {
  EvictionSettings settings;
  settings.evict_idle_above = 50;
  const std::vector<SessionRecord> sessions = {idle(1, kNow + 100 * kSecond), idle(2, kNow - kSecond)};
  EXPECT_EQ(pids_of(decide_evictions(sessions, settings, kNow, 11, 20)), (std::vector<int>{2}));
}

// ---- on demand (dbx_oauth.evict_idle_sessions) ----

TEST(EvictionOnDemand, IdleLongerThanTheIntervalWithoutXid) {
  std::vector<SessionRecord> sessions = {idle(1, kNow - 2 * kSecond), idle(2, kNow - 200000),
                                         active(3, kNow - 10 * kSecond), idle(4, kNow - 10 * kSecond),
                                         idle(5, kNow - 10 * kSecond), idle(6, kNow - 10 * kSecond)};
  sessions[3].has_xid = true;
  sessions[4].state = SessionState::idle_in_transaction;
  const auto d = on_demand_evictions(sessions, 500, kNow, 6);
  EXPECT_EQ(pids_of(d), (std::vector<int>{1, 5})) << "not too recent, busy, written, nor the caller";
  for (const EvictionDecision& e : d)
    EXPECT_EQ(e.reason, EvictionReason::on_demand);
  EXPECT_TRUE(on_demand_evictions(sessions, 3600 * 1000, kNow, 6).empty()) << "nothing idles an hour";
  EXPECT_TRUE(on_demand_evictions({idle(1, kNow - 500 * 1000)}, 500, kNow, 0).empty()) << "strictly longer";
}
