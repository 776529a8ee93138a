#pragma once
// A webhook's statistics on its details page: success rate and latency (p50, p95) by hour over
// the last 24 hours or 7 days, from GET /webhooks/{id}/stats (kept by the server as attempts are
// recorded). Hovering a bar shows that hour's figures; clicking it asks the history to show the
// deliveries attempted in that hour.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mambo::web {

struct ScreenContext;

struct StatsBucket {
  int64_t start = 0;  // Unix ms, the hour's start
  int64_t succeeded = 0;
  int64_t failed = 0;
  std::optional<int64_t> p50_ms, p95_ms;
};

struct StatsCharts {
  static constexpr int64_t kRefreshMs = 10'000;

  int window = 0;                    // 0: 24 h, 1: 7 d
  std::vector<StatsBucket> buckets;  // oldest first
  StatsBucket totals;
  bool loading = false;
  bool loaded = false;
  std::string error;
  int64_t last_load_ms = 0;
  uint64_t generation = 0;

  void Load(ScreenContext& ctx, const std::string& webhook_id);
  void Tick(ScreenContext& ctx, const std::string& webhook_id);
  // Draws both charts, `selected_hour` marked; returns the start of the hour clicked, if any.
  std::optional<int64_t> Draw(ScreenContext& ctx, const std::string& webhook_id,
                              std::optional<int64_t> selected_hour);
};

}  // namespace mambo::web
