#pragma once
// One webhook: its configuration, the secret (revealed only on request, rotated with a grace
// period), the delivery history (status and event-type filters, live refresh, endless scrolling
// through thousands of rows with ImGuiListClipper and cursor pages) and an attempt inspector
// (request headers sent, HTTP status or failure cause, duration, response excerpt), above them
// the success-rate and latency charts (stats_charts.h). Actions:
// resend, recover since a time, send a test event, edit, delete with confirmation.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mambo/models.h"
#include "screens/stats_charts.h"

namespace mambo::web {

struct ScreenContext;
class UiState;

struct DetailsScreen {
  static constexpr int64_t kLiveRefreshMs = 2000;
  static constexpr int kFirstPage = 100;
  static constexpr int kNextPage = 200;

  std::string id;
  std::optional<Webhook> webhook;
  bool loading = false;
  std::string error;  // loading the webhook failed

  // The secret as the API returned it once (create/generate/rotate) or on explicit reveal.
  std::string shown_secret;
  bool shown_secret_once = false;  // true: from a save/rotate, will not be shown again
  std::string previous_valid_until;
  bool secret_busy = false;

  // Delivery history (newest first) and its filters.
  std::vector<Delivery> deliveries;
  std::optional<std::string> next_cursor;
  bool history_loading = false;
  bool history_loaded = false;
  bool refreshing = false;
  std::string history_error;
  // Success-rate and latency charts; a click on an hour filters the history to it.
  StatsCharts charts;
  std::optional<int64_t> hour_filter;  // start of the hour: deliveries attempted in it
  int status_filter = 0;               // 0 = all, else DeliveryStatus + 1
  std::string event_filter;            // "" = all
  bool live = true;
  int64_t last_refresh_ms = 0;
  int first_visible = 0;

  // Inspector.
  std::string selected_id;
  std::optional<Delivery> selected;  // with attempts
  bool selected_loading = false;
  std::string selected_error;
  int selected_attempt = -1;  // index in selected->attempts; -1 = newest
  // What the API says was sent for the selected delivery: the exact body (signed) and the last
  // attempt's headers (custom values masked). Empty before its first attempt.
  std::string sent_body;
  Headers sent_headers;
  // The custom headers' values, after an (audited) reveal.
  std::optional<Headers> revealed_headers;
  bool headers_busy = false;
  int verify_language = 0;  // index of the receiver code shown (Node.js, Python, C++)
  bool action_busy = false;

  std::string recover_since;
  bool open_delete = false, open_recover = false, open_rotate = false, open_enable = false;

  uint64_t generation = 0;          // per opened webhook
  uint64_t history_generation = 0;  // per filter set

  void Open(ScreenContext& ctx, const std::string& webhook_id);
  // Opens the webhook with one of its deliveries in the inspector (a link from the Events screen).
  void OpenDelivery(ScreenContext& ctx, const std::string& webhook_id,
                    const std::string& delivery_id);
  void Tick(ScreenContext& ctx);
  void Draw(ScreenContext& ctx);
  // `rotation`: the answer of the rotation that made it, or null.
  void SetSecretOnce(const std::string& secret, const Json& rotation = nullptr);
  std::string Title() const;

 private:
  void ReloadHistory(ScreenContext& ctx);
  void LoadHistoryPage(ScreenContext& ctx, const std::string& cursor);
  void RefreshHistory(ScreenContext& ctx);
  void Select(ScreenContext& ctx, const std::string& delivery_id);
  void LoadSelected(ScreenContext& ctx);
  std::string HistoryQuery() const;

  void DrawHeader(ScreenContext& ctx);
  void DrawDisabledBanner(ScreenContext& ctx);
  // Switches the webhook on again; `cancel_backlog`: cancels what waits first.
  void Enable(ScreenContext& ctx, bool cancel_backlog);
  void DrawConfig(ScreenContext& ctx);
  void DrawHistory(ScreenContext& ctx);
  void DrawInspector(ScreenContext& ctx);
  void DrawSentRequest(ScreenContext& ctx);
  void DrawHeadersConfig(ScreenContext& ctx);
  void DrawVerifySnippet(ScreenContext& ctx);
  void DrawModals(ScreenContext& ctx);
};

}  // namespace mambo::web
