// Exponential backoff with equal jitter (see backoff.h).
#include "core/backoff.h"

#include <algorithm>

namespace dbx_oauth::core {

int64_t backoff_delay_ms(const BackoffPolicy& policy, int failures, double random01) {
  const int64_t cap = std::max<int64_t>(1, policy.max_ms);
  int64_t delay = std::clamp<int64_t>(policy.base_ms, 1, cap);
  // Doubling stops at the cap, so large failure counts cannot overflow.
  for (int i = 1; i < failures && delay < cap; ++i) delay = std::min(cap, delay * 2);
  if (!(random01 >= 0.0)) random01 = 0.0;  // also catches NaN
  if (random01 >= 1.0) random01 = 0.999999;
  const int64_t half = delay / 2;
  return std::max<int64_t>(1, delay - half + static_cast<int64_t>(static_cast<double>(half) * random01));
}

}  // namespace dbx_oauth::core
