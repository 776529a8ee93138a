#pragma once
// When to try a delivery again. The schedule is the Standard Webhooks example (immediately, 5 s,
// 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h: 10 attempts over ~3.5 days) with Svix's ±20 %
// jitter, so that thousands of deliveries that failed together (a receiver outage) do not all
// come back in the same second. The policy is pure arithmetic on times from a Clock; the worker
// owns persistence.

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "delivery/clock.h"

namespace mambo::delivery {

// Delay before attempt i+1 (index 0 = the first attempt, which is immediate).
std::vector<int64_t> DefaultRetryScheduleMs();

// Parses a Retry-After header value (RFC 9110 §10.2.3): delay-seconds, or an HTTP-date in any of
// the three formats recipients must accept (IMF-fixdate, RFC 850, asctime). Returns the delay in
// milliseconds from `now_ms` (0 for a date in the past), or nullopt when the value is neither.
std::optional<int64_t> ParseRetryAfter(std::string_view value, int64_t now_ms);

class RetryPolicy {
 public:
  // Uniform random numbers in [0, 1). Must be safe to call from every thread that uses the
  // policy; Seeded() returns one that is.
  using Random = std::function<double()>;

  explicit RetryPolicy(Random random, std::vector<int64_t> schedule_ms = DefaultRetryScheduleMs(),
                       double jitter = 0.2);
  // A policy whose jitter comes from a mutex-guarded std::mt19937_64 with this seed.
  static RetryPolicy Seeded(uint64_t seed);

  int max_attempts() const { return static_cast<int>(schedule_ms_.size()); }

  // The scheduled delay (no jitter) before attempt `number` (1-based).
  int64_t BaseDelayMs(int number) const;

  // After `attempts_made` attempts have failed (1 after the first failure), the time of the next
  // attempt, or nullopt when the schedule is exhausted. `retry_after_ms` is the receiver's
  // Retry-After as a delay (see ParseRetryAfter); it is honoured but clamped to
  // [delay, 2 × delay] of the jittered delay: a receiver can slow us down (a 429 under load) but
  // can neither make us hammer it nor park a delivery for days.
  std::optional<int64_t> NextAttemptAt(int attempts_made, int64_t now_ms,
                                       std::optional<int64_t> retry_after_ms = std::nullopt) const;

 private:
  Random random_;
  std::vector<int64_t> schedule_ms_;
  double jitter_;
};

}  // namespace mambo::delivery
