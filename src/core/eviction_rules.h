// The eviction rules: which OAuth sessions the session monitor ends, and
// why (docs/operator-guide.md, session lifecycle).  Plain data in, plain
// data out, so every rule is unit-tested without a server
// (test/unit/eviction_rules_test.cpp); the PostgreSQL glue takes the
// snapshot of backends, looks revocations up, signals and logs.
//
// Per session, the first rule that applies, in this order:
//   1. revoked: the identity or token was revoked;
//   2. token_expired: expired_session_action = terminate and now is past
//      token_expires_at + expired_session_grace (a session without a known
//      expiry never expires);
//   3. session_age: now is past started + max_session_age (0: off), busy
//      or not;
//   4. idle: the session is idle, or idle in a transaction (aborted or
//      not, with or without a transaction id), and now is past
//      state_since + idle_session_timeout (0: off).
// Then connection pressure: when client backends (OAuth or not) minus the
// sessions the rules just ended exceed evict_idle_above percent of
// max_connections (0: off), idle OAuth sessions without a transaction id
// are evicted, longest idle first (ties in snapshot order), exactly as many
// as bring the count down to the threshold.  Active sessions and sessions
// holding a transaction id are never evicted for pressure.
//
// Times are microseconds on one clock (PostgreSQL's TimestampTz); "past"
// means strictly later, so a clock that goes backwards evicts nothing early.
#pragma once
#include "core/no_postgres.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace dbx_oauth::core {

// What the backend is doing, as far as the rules care.
enum class SessionState { active, idle, idle_in_transaction, idle_in_transaction_aborted, other };

// One OAuth login session of the snapshot.
struct SessionRecord {
  int pid = 0;
  SessionState state = SessionState::other;
  int64_t state_since = 0;       // when state last changed
  int64_t started = 0;           // backend start
  int64_t token_expires_at = 0;  // 0: no known expiry
  bool has_xid = false;          // holds a transaction id (its transaction wrote)
  bool revoked = false;          // the glue's revocation verdict
};

// The settings, in their own units (seconds, percent); 0 turns a rule off
// except for the grace, where 0 means none.
struct EvictionSettings {
  bool terminate_expired = false;  // expired_session_action = terminate
  int expired_session_grace = 0;
  int idle_session_timeout = 0;
  int max_session_age = 0;
  int evict_idle_above = 0;
};

// The glue maps each reason to its stats counter and log name.
enum class EvictionReason { revoked, token_expired, session_age, idle, pressure, on_demand };

struct EvictionDecision {
  std::size_t index = 0;  // into the sessions vector
  int pid = 0;
  EvictionReason reason = EvictionReason::idle;
};

// True for idle and idle-in-transaction (aborted or not).
bool session_is_idle(const SessionRecord& session);

// The rules 1-4: for each session they end, one decision, in input order.
std::vector<EvictionDecision> rule_evictions(const std::vector<SessionRecord>& sessions,
                                             const EvictionSettings& settings, int64_t now);

// Connection pressure after the rules.  needed: how many sessions must go;
// candidates: indexes of the sessions that may go, longest idle first.  A
// candidate whose termination does not take effect is skipped, so the
// glue walks the candidates until `needed` evictions took effect.
struct PressurePlan {
  int needed = 0;
  std::vector<std::size_t> candidates;
};

// already_ended: indexes of the sessions the rules actually ended (they
// no longer count, and are not candidates).
PressurePlan pressure_evictions(const std::vector<SessionRecord>& sessions,
                                const EvictionSettings& settings, int client_backends,
                                int max_connections, const std::vector<std::size_t>& already_ended);

// Rules and pressure together, as if every termination took effect.
std::vector<EvictionDecision> decide_evictions(const std::vector<SessionRecord>& sessions,
                                               const EvictionSettings& settings, int64_t now,
                                               int client_backends, int max_connections);

// An administrator's request: every idle session without a transaction id,
// idle for longer than idle_for_ms, except the caller's own (own_pid).
std::vector<EvictionDecision> on_demand_evictions(const std::vector<SessionRecord>& sessions,
                                                  int64_t idle_for_ms, int64_t now, int own_pid);

}  // namespace dbx_oauth::core
