#include "delivery/retry_policy.h"

#include <gtest/gtest.h>

#include <vector>

#include "mambo/models.h"

namespace mambo::delivery {
namespace {

constexpr int64_t kS = 1000;
constexpr int64_t kMin = 60 * kS;
constexpr int64_t kH = 60 * kMin;

const std::vector<int64_t> kExpected = {0,      5 * kS,  5 * kMin, 30 * kMin, 2 * kH,
                                        5 * kH, 10 * kH, 14 * kH,  20 * kH,   24 * kH};

RetryPolicy Fixed(double r) {
  return RetryPolicy([r] { return r; });
}

TEST(RetryPolicyTest, DefaultScheduleIsStandardWebhooks) {
  EXPECT_EQ(DefaultRetryScheduleMs(), kExpected);
  auto policy = Fixed(0.5);
  EXPECT_EQ(policy.max_attempts(), 10);
  EXPECT_EQ(policy.max_attempts(), kMaxDeliveryAttempts) << "what the console says (try 4 of 10)";
  for (int n = 1; n <= 10; ++n) EXPECT_EQ(policy.BaseDelayMs(n), kExpected[n - 1]) << n;
  EXPECT_THROW(policy.BaseDelayMs(0), std::out_of_range);
  EXPECT_THROW(policy.BaseDelayMs(11), std::out_of_range);
}

// Runs the whole schedule on a ManualClock: every attempt fails, the clock jumps to the next
// attempt time, until the policy says the delivery is exhausted.
TEST(RetryPolicyTest, WholeScheduleWithoutJitterOnManualClock) {
  ManualClock clock(1'700'000'000'000);
  auto policy = Fixed(0.5);  // r = 0.5 → multiplier exactly 1.0
  const int64_t created = clock.NowMs();
  EXPECT_EQ(policy.NextAttemptAt(0, clock.NowMs()), created);  // first attempt: immediately

  std::vector<int64_t> attempt_times = {clock.NowMs()};
  int attempts = 1;
  while (auto next = policy.NextAttemptAt(attempts, clock.NowMs())) {
    EXPECT_EQ(*next - clock.NowMs(), kExpected[static_cast<size_t>(attempts)]);
    clock.Set(*next);
    attempt_times.push_back(clock.NowMs());
    ++attempts;
  }
  EXPECT_EQ(attempts, 10);
  EXPECT_EQ(attempt_times.size(), 10u);
  // 5 s + 5 min + 30 min + 2 h + 5 h + 10 h + 14 h + 20 h + 24 h = 75 h 35 min 5 s.
  EXPECT_EQ(clock.NowMs() - created, 75 * kH + 35 * kMin + 5 * kS);
  EXPECT_FALSE(policy.NextAttemptAt(10, clock.NowMs()).has_value());
  EXPECT_FALSE(policy.NextAttemptAt(11, clock.NowMs()).has_value());
}

TEST(RetryPolicyTest, JitterStaysWithinTwentyPercent) {
  auto low = Fixed(0.0);
  auto high = Fixed(0.999999);
  for (int made = 1; made < 10; ++made) {
    const int64_t base = kExpected[static_cast<size_t>(made)];
    const int64_t lo = *low.NextAttemptAt(made, 0);
    const int64_t hi = *high.NextAttemptAt(made, 0);
    EXPECT_EQ(lo, base * 8 / 10) << made;
    EXPECT_LE(hi, base * 12 / 10) << made;
    EXPECT_GE(hi, base * 12 / 10 - base / 100000 - 1) << made;  // r just below 1
  }
}

TEST(RetryPolicyTest, SeededPolicyIsDeterministicAndSpreadsDelays) {
  auto a = RetryPolicy::Seeded(42);
  auto b = RetryPolicy::Seeded(42);
  ManualClock clock(0);
  int64_t min_delay = INT64_MAX, max_delay = 0;
  for (int i = 0; i < 1000; ++i) {
    const int64_t da = *a.NextAttemptAt(4, clock.NowMs());
    EXPECT_EQ(da, *b.NextAttemptAt(4, clock.NowMs()));
    EXPECT_GE(da, 2 * kH * 8 / 10);
    EXPECT_LE(da, 2 * kH * 12 / 10);
    min_delay = std::min(min_delay, da);
    max_delay = std::max(max_delay, da);
  }
  // 1000 draws cover most of the ±20 % band: the jitter really spreads retries.
  EXPECT_LT(min_delay, 2 * kH * 82 / 100);
  EXPECT_GT(max_delay, 2 * kH * 118 / 100);
}

TEST(RetryPolicyTest, WholeScheduleWithSeededJitterStaysInBand) {
  ManualClock clock(0);
  auto policy = RetryPolicy::Seeded(7);
  int attempts = 1;
  while (auto next = policy.NextAttemptAt(attempts, clock.NowMs())) {
    const int64_t delay = *next - clock.NowMs();
    const int64_t base = kExpected[static_cast<size_t>(attempts)];
    EXPECT_GE(delay, base * 8 / 10);
    EXPECT_LE(delay, base * 12 / 10);
    clock.Advance(delay);
    ++attempts;
  }
  EXPECT_EQ(attempts, 10);
}

TEST(RetryPolicyTest, RetryAfterIsClampedToDelayAndTwiceDelay) {
  auto policy = Fixed(0.5);
  const int64_t now = 1'000'000;
  // After 2 failures the scheduled delay is 5 min.
  EXPECT_EQ(*policy.NextAttemptAt(2, now, 0), now + 5 * kMin);         // sooner: ignored
  EXPECT_EQ(*policy.NextAttemptAt(2, now, 7 * kMin), now + 7 * kMin);  // honoured
  EXPECT_EQ(*policy.NextAttemptAt(2, now, 3 * kH), now + 10 * kMin);   // capped at 2×
  // Retry-After never revives an exhausted delivery.
  EXPECT_FALSE(policy.NextAttemptAt(10, now, kS).has_value());
}

TEST(RetryPolicyTest, RejectsBadConfiguration) {
  EXPECT_THROW(RetryPolicy(nullptr), std::invalid_argument);
  EXPECT_THROW(RetryPolicy([] { return 0.5; }, {}), std::invalid_argument);
  EXPECT_THROW(RetryPolicy([] { return 0.5; }, {0, 1}, 1.5), std::invalid_argument);
}

TEST(RetryAfterTest, ParsesDelaySeconds) {
  EXPECT_EQ(ParseRetryAfter("120", 0), 120 * kS);
  EXPECT_EQ(ParseRetryAfter(" 0 ", 0), 0);
  EXPECT_GT(*ParseRetryAfter("99999999999999999999999", 0), 0);  // saturates, no overflow
  EXPECT_FALSE(ParseRetryAfter("-5", 0));
  EXPECT_FALSE(ParseRetryAfter("1.5", 0));
  EXPECT_FALSE(ParseRetryAfter("", 0));
  EXPECT_FALSE(ParseRetryAfter("soon", 0));
}

TEST(RetryAfterTest, ParsesTheThreeHttpDateFormats) {
  // Sun, 06 Nov 1994 08:49:37 GMT = 784111777 unix seconds (RFC 9110's example).
  const int64_t at = 784111777 * kS;
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", at - 90 * kS), 90 * kS);
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", at - 90 * kS), 90 * kS);
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", at - 90 * kS), 90 * kS);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", 0), int64_t{1445412480} * kS);
  // A date in the past means "now".
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", at + kH), 0);
}

TEST(RetryAfterTest, RejectsMalformedDates) {
  EXPECT_FALSE(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 UTC", 0));
  EXPECT_FALSE(ParseRetryAfter("Sun, 06 Foo 1994 08:49:37 GMT", 0));
  EXPECT_FALSE(ParseRetryAfter("Sun, 6 Nov 1994 08:49:37 GMT", 0));
  EXPECT_FALSE(ParseRetryAfter("Sun, 06 Nov 1994 25:49:37 GMT", 0));
  EXPECT_FALSE(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT trailing", 0));
  EXPECT_FALSE(ParseRetryAfter("2015-10-21T07:28:00Z", 0));
}

TEST(RetryClockTest, ManualClockMovesOnlyWhenTold) {
  ManualClock clock(5);
  EXPECT_EQ(clock.NowMs(), 5);
  clock.Advance(10);
  EXPECT_EQ(clock.NowMs(), 15);
  clock.Set(100);
  EXPECT_EQ(clock.NowMs(), 100);
  SystemClock system;
  EXPECT_GT(system.NowMs(), int64_t{1'600'000'000'000});
}

}  // namespace
}  // namespace mambo::delivery
