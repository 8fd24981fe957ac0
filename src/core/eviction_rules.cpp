// The eviction rules (src/core/eviction_rules.h).
#include "core/eviction_rules.h"

#include <algorithm>
#include <limits>

namespace dbx_oauth::core {

namespace {

constexpr int64_t kMicrosPerMilli = 1000;
constexpr int64_t kMicrosPerSecond = 1000000;

// t + amount * unit, saturated: a bound far in the future is never passed, instead
// of wrapping into the past.
int64_t plus(int64_t t, int64_t amount, int64_t unit) {
  int64_t span = 0;
  int64_t sum = 0;
  if (__builtin_mul_overflow(amount, unit, &span))
    span = amount < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  if (__builtin_add_overflow(t, span, &sum))
    sum = span < 0 ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max();
  return sum;
}

bool past(int64_t now, int64_t since, int64_t seconds) {
  return now > plus(since, seconds, kMicrosPerSecond);
}

bool rule_applies(const SessionRecord& s, const EvictionSettings& settings, int64_t now,
                  EvictionReason* reason) {
  if (s.revoked) {
    *reason = EvictionReason::revoked;
    return true;
  }
  if (settings.terminate_expired && s.token_expires_at != 0 &&
      past(now, s.token_expires_at, settings.expired_session_grace)) {
    *reason = EvictionReason::token_expired;
    return true;
  }
  if (settings.max_session_age > 0 && past(now, s.started, settings.max_session_age)) {
    *reason = EvictionReason::session_age;
    return true;
  }
  if (settings.idle_session_timeout > 0 && session_is_idle(s) &&
      past(now, s.state_since, settings.idle_session_timeout)) {
    *reason = EvictionReason::idle;
    return true;
  }
  return false;
}

}  // namespace

bool session_is_idle(const SessionRecord& session) {
  return session.state == SessionState::idle || session.state == SessionState::idle_in_transaction ||
         session.state == SessionState::idle_in_transaction_aborted;
}

std::vector<EvictionDecision> rule_evictions(const std::vector<SessionRecord>& sessions,
                                             const EvictionSettings& settings, int64_t now) {
  std::vector<EvictionDecision> decisions;
  for (std::size_t i = 0; i < sessions.size(); i++) {
    EvictionReason reason;
    if (rule_applies(sessions[i], settings, now, &reason))
      decisions.push_back({i, sessions[i].pid, reason});
  }
  return decisions;
}

PressurePlan pressure_evictions(const std::vector<SessionRecord>& sessions,
                                const EvictionSettings& settings, int client_backends,
                                int max_connections, const std::vector<std::size_t>& already_ended) {
  PressurePlan plan;
  if (settings.evict_idle_above <= 0)
    return plan;
  const int64_t threshold = static_cast<int64_t>(max_connections) * settings.evict_idle_above / 100;
  const int64_t excess = static_cast<int64_t>(client_backends) -
                         static_cast<int64_t>(already_ended.size()) - threshold;
  if (excess <= 0)
    return plan;
  plan.needed = static_cast<int>(std::min<int64_t>(excess, std::numeric_limits<int>::max()));

  std::vector<bool> ended(sessions.size(), false);
  for (std::size_t i : already_ended)
    if (i < ended.size())
      ended[i] = true;
  for (std::size_t i = 0; i < sessions.size(); i++)
    if (!ended[i] && session_is_idle(sessions[i]) && !sessions[i].has_xid)
      plan.candidates.push_back(i);
  std::stable_sort(plan.candidates.begin(), plan.candidates.end(), [&](std::size_t a, std::size_t b) {
    return sessions[a].state_since < sessions[b].state_since;
  });
  return plan;
}

std::vector<EvictionDecision> decide_evictions(const std::vector<SessionRecord>& sessions,
                                               const EvictionSettings& settings, int64_t now,
                                               int client_backends, int max_connections) {
  std::vector<EvictionDecision> decisions = rule_evictions(sessions, settings, now);
  std::vector<std::size_t> ended;
  for (const EvictionDecision& d : decisions)
    ended.push_back(d.index);
  const PressurePlan plan = pressure_evictions(sessions, settings, client_backends, max_connections, ended);
  for (std::size_t k = 0; k < plan.candidates.size() && k < static_cast<std::size_t>(plan.needed); k++) {
    const std::size_t i = plan.candidates[k];
    decisions.push_back({i, sessions[i].pid, EvictionReason::pressure});
  }
  return decisions;
}

std::vector<EvictionDecision> on_demand_evictions(const std::vector<SessionRecord>& sessions,
                                                  int64_t idle_for_ms, int64_t now, int own_pid) {
  std::vector<EvictionDecision> decisions;
  for (std::size_t i = 0; i < sessions.size(); i++) {
    const SessionRecord& s = sessions[i];
    if (s.pid == own_pid || !session_is_idle(s) || s.has_xid)
      continue;
    if (now > plus(s.state_since, idle_for_ms, kMicrosPerMilli))
      decisions.push_back({i, s.pid, EvictionReason::on_demand});
  }
  return decisions;
}

}  // namespace dbx_oauth::core
