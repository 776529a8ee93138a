#pragma once
// Statistics of a webhook's attempts, kept as they are recorded: per hour, how many succeeded
// and failed and a histogram of their durations. Both stores add each recorded attempt to its
// (webhook, hour, bucket) row in the transaction that records it, so the figures are exact, cost
// nothing to read (no scan of history), survive restarts and outlive retention, which deletes
// attempts but not these rows (they go after kStatsKeepMs).
//
// Durations: bucket i holds (UpperMs(i-1), UpperMs(i)]; the bounds grow by at most 10% (by
// 1 ms below 10 ms), so a percentile read from the histogram is the upper bound of the bucket
// that holds it: never below the true value and at most 10% (or 1 ms) above it.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mambo::store {

inline constexpr int64_t kHourMs = 3600 * 1000;
// Rows older than this are pruned: the longest window asked for is 7 days.
inline constexpr int64_t kStatsKeepMs = 8 * 24 * kHourMs;

inline int64_t HourStart(int64_t at_ms) {
  return at_ms - ((at_ms % kHourMs) + kHourMs) % kHourMs;
}

size_t LatencyBuckets();  // how many (the last has no upper bound)
size_t LatencyBucket(int64_t duration_ms);
int64_t LatencyUpperMs(size_t bucket);  // the last bucket's: its lower bound

// One webhook's attempts in one hour.
struct HourStats {
  int64_t hour = 0;  // its start, Unix ms
  int64_t succeeded = 0;
  int64_t failed = 0;
  std::vector<int64_t> latency;  // attempts by duration bucket (LatencyBuckets() long)
  void Add(size_t bucket, int64_t succeeded_n, int64_t failed_n);
  void Merge(const HourStats& other);
};

using StatsByWebhook = std::map<std::string, std::vector<HourStats>, std::less<>>;
// Adds one stored (webhook, hour, bucket) row to what a store read; rows come ordered by webhook
// and hour.
void AddStatsRow(StatsByWebhook& out, const std::string& webhook_id, int64_t hour, int64_t bucket,
                 int64_t succeeded, int64_t failed);

// Figures of one or more hours together.
struct StatsSummary {
  int64_t succeeded = 0;
  int64_t failed = 0;
  std::optional<int64_t> p50_ms;  // none without attempts
  std::optional<int64_t> p95_ms;
};
StatsSummary Summarize(const HourStats& hours);

// Nearest rank: the smallest duration bucket holding at least q of the attempts.
std::optional<int64_t> LatencyPercentile(const std::vector<int64_t>& latency, double q);

}  // namespace mambo::store
