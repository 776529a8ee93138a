#include "attempt_stats.h"

#include <algorithm>
#include <cmath>

namespace mambo::store {
namespace {

// Up to an hour (past any attempt timeout); whatever lasts longer shares the last bucket.
const std::vector<int64_t>& UpperBounds() {
  static const std::vector<int64_t> bounds = [] {
    std::vector<int64_t> b{0};
    while (b.back() < kHourMs) {
      const int64_t last = b.back();
      b.push_back(std::max(last + 1, static_cast<int64_t>(std::floor(last * 1.1))));
    }
    return b;
  }();
  return bounds;
}

}  // namespace

size_t LatencyBuckets() {
  return UpperBounds().size() + 1;
}

size_t LatencyBucket(int64_t duration_ms) {
  const auto& b = UpperBounds();
  return static_cast<size_t>(std::lower_bound(b.begin(), b.end(), duration_ms) - b.begin());
}

int64_t LatencyUpperMs(size_t bucket) {
  const auto& b = UpperBounds();
  return b[std::min(bucket, b.size() - 1)];
}

void HourStats::Add(size_t bucket, int64_t succeeded_n, int64_t failed_n) {
  if (latency.empty()) latency.assign(LatencyBuckets(), 0);
  succeeded += succeeded_n;
  failed += failed_n;
  latency[std::min(bucket, latency.size() - 1)] += succeeded_n + failed_n;
}

void HourStats::Merge(const HourStats& other) {
  if (latency.empty()) latency.assign(LatencyBuckets(), 0);
  succeeded += other.succeeded;
  failed += other.failed;
  for (size_t i = 0; i < other.latency.size() && i < latency.size(); ++i) {
    latency[i] += other.latency[i];
  }
}

void AddStatsRow(StatsByWebhook& out, const std::string& webhook_id, int64_t hour, int64_t bucket,
                 int64_t succeeded, int64_t failed) {
  std::vector<HourStats>& hours = out[webhook_id];
  if (hours.empty() || hours.back().hour != hour) hours.push_back(HourStats{hour, 0, 0, {}});
  hours.back().Add(static_cast<size_t>(std::max<int64_t>(bucket, 0)), succeeded, failed);
}

std::optional<int64_t> LatencyPercentile(const std::vector<int64_t>& latency, double q) {
  int64_t total = 0;
  for (const int64_t n : latency) total += n;
  if (total == 0) return std::nullopt;
  const auto rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * total)));
  int64_t seen = 0;
  for (size_t i = 0; i < latency.size(); ++i) {
    seen += latency[i];
    if (seen >= rank) return LatencyUpperMs(i);
  }
  return LatencyUpperMs(latency.size() - 1);
}

StatsSummary Summarize(const HourStats& hours) {
  return StatsSummary{hours.succeeded, hours.failed, LatencyPercentile(hours.latency, 0.50),
                      LatencyPercentile(hours.latency, 0.95)};
}

}  // namespace mambo::store
