#pragma once
// The webhooks list: URL, status (and why, when webhookd disabled it), event count, last delivery
// result and time, 24 h success rate and latency with an hourly plot; Create Webhook. Everything
// comes in the list's own answer (stats_24h and last_delivery, kept by the server as attempts are
// recorded): one request a page, also for the periodic refresh.

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mambo/models.h"

namespace mambo::web {

struct ScreenContext;

// A list entry's stats_24h and last_delivery: this hour and the 23 before it.
struct WebhookStats {
  std::optional<Delivery> last;  // newest delivery
  int64_t succeeded = 0;         // attempts
  int64_t failed = 0;
  std::optional<int64_t> p50_ms, p95_ms;
  std::array<int64_t, 24> ok_by_hour{};  // [23] is the current hour
  std::array<int64_t, 24> fail_by_hour{};
};

struct WebhooksScreen {
  static constexpr const char* kTitle = "Webhooks";
  static constexpr int64_t kRefreshMs = 10'000;

  std::vector<Webhook> rows;
  std::map<std::string, WebhookStats> stats;
  std::optional<std::string> next_cursor;
  bool loading = false;
  bool replace_rows = false;  // the next first page replaces the rows (an Open)
  bool loaded = false;
  std::string error;
  int64_t last_refresh_ms = 0;
  uint64_t generation = 0;  // answers for an older load are ignored

  void Open(ScreenContext& ctx);  // (re)loads the first page
  void Forget();                  // drops the rows (sign-out); answers on their way are ignored
  void Tick(ScreenContext& ctx);  // periodic refresh while shown
  void Draw(ScreenContext& ctx);

 private:
  void LoadPage(ScreenContext& ctx, const std::string& cursor);
  void Refresh(ScreenContext& ctx);
  void Take(const Json& entry);  // a list entry's webhook and figures
  void DrawDisabledBanners(ScreenContext& ctx);
};

}  // namespace mambo::web
