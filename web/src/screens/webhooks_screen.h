#pragma once
// The webhooks list: URL, status (and why, when webhookd disabled it), event count, last delivery
// result and time, 24 h success rate with an hourly plot; Create Webhook. The delivery numbers
// come from each webhook's newest deliveries (one request per webhook; see kStatsSample).

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mambo/models.h"

namespace mambo::web {

struct ScreenContext;

struct WebhookStats {
  bool loaded = false;
  std::string error;
  std::optional<Delivery> last;      // newest delivery
  int succeeded = 0;                 // in the last 24 h (final outcomes only)
  int failed = 0;                    // failed + exhausted in the last 24 h
  int waiting = 0;                   // pending / in flight in the last 24 h
  std::array<int, 24> ok_by_hour{};  // [23] is the current hour
  std::array<int, 24> fail_by_hour{};
  bool sample_full = false;  // the sample was all from the last 24 h: numbers are a lower bound
};

struct WebhooksScreen {
  static constexpr const char* kTitle = "Webhooks";
  static constexpr int kStatsSample = 200;  // newest deliveries read per webhook (API max page)
  static constexpr int64_t kRefreshMs = 10'000;

  std::vector<Webhook> rows;
  std::map<std::string, WebhookStats> stats;
  std::optional<std::string> next_cursor;
  bool loading = false;
  bool loaded = false;
  std::string error;
  int64_t last_refresh_ms = 0;
  uint64_t generation = 0;  // answers for an older load are ignored

  void Open(ScreenContext& ctx);  // (re)loads the first page
  void Tick(ScreenContext& ctx);  // periodic refresh while shown
  void Draw(ScreenContext& ctx);

 private:
  void LoadPage(ScreenContext& ctx, const std::string& cursor);
  void LoadStats(ScreenContext& ctx, const std::string& id);
};

}  // namespace mambo::web
