// Retry delays for failed key refreshes: exponential backoff with jitter.
//
// Pure arithmetic (the caller supplies the random number), so it is
// unit-tested with fixed inputs and the worker stays deterministic in tests.
#pragma once
#include "core/no_postgres.h"

#include <cstdint>

namespace dbx_oauth::core {

struct BackoffPolicy {
  int64_t base_ms = 2000;     // delay after the first failure, before jitter
  int64_t max_ms = 300000;    // ceiling of the exponential part
};

// Delay before the next attempt after `failures` consecutive failures
// (>= 1).  "Equal jitter": half the exponential delay is fixed, the other
// half scaled by random01 in [0, 1), so many servers that lost the same
// issuer at the same moment do not retry in lockstep, yet no retry comes
// sooner than half the nominal delay.  Result is in [1, max_ms].
int64_t backoff_delay_ms(const BackoffPolicy& policy, int failures, double random01);

}  // namespace dbx_oauth::core
