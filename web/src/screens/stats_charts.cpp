#include "screens/stats_charts.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>

#include "api_client.h"
#include "screen_context.h"
#include "ui_state.h"
#include "widgets.h"

namespace mambo::web {
namespace {

constexpr int64_t kHourMs = 3'600'000;

StatsBucket ParseBucket(const Json& j) {
  StatsBucket b;
  b.start = ParseTimestamp(JStr(j, "start")).value_or(0);
  b.succeeded = JInt(j, "succeeded");
  b.failed = JInt(j, "failed");
  b.p50_ms = JOptInt(j, "p50_ms");
  b.p95_ms = JOptInt(j, "p95_ms");
  return b;
}

Json BucketJson(const StatsBucket& b) {
  const auto opt = [](const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); };
  return Json{{"start", FormatTimestamp(b.start)},
              {"succeeded", b.succeeded},
              {"failed", b.failed},
              {"p50_ms", opt(b.p50_ms)},
              {"p95_ms", opt(b.p95_ms)}};
}

// "10:00-11:00Z, 2026-12-07: 12 succeeded, 1 failed (92.3%); p50 40 ms, p95 120 ms"
std::string BucketText(const StatsBucket& b) {
  const std::string day = FormatTimestamp(b.start).substr(0, 10);
  const std::string from = FormatTimestamp(b.start).substr(11, 5);
  const std::string to = FormatTimestamp(b.start + kHourMs).substr(11, 5);
  std::string text = day + " " + from + "-" + to + "Z\n";
  const int64_t n = b.succeeded + b.failed;
  if (n == 0) return text + "No attempts";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%lld succeeded, %lld failed (%.1f%% success)",
                static_cast<long long>(b.succeeded), static_cast<long long>(b.failed),
                100.0 * static_cast<double>(b.succeeded) / static_cast<double>(n));
  text += buf;
  if (b.p50_ms && b.p95_ms) {
    text += "\nLatency p50 " + DurationText(*b.p50_ms) + ", p95 " + DurationText(*b.p95_ms);
  }
  return text + "\nClick to show this hour's deliveries";
}

// One chart: a bar per bucket, `value` in [0, 1] of its height (none: nothing drawn), and a
// second, thinner mark (p50 on the latency chart). Returns the bucket under the pointer.
struct Bar {
  std::optional<float> value;
  std::optional<float> mark;
  ImU32 color;
};

std::optional<size_t> BarChart(UiState& ui, const char* name, const std::vector<Bar>& bars,
                               ImVec2 size, std::optional<size_t> selected, bool* clicked) {
  ImGui::InvisibleButton(name, size);
  ui.RecordLastItem(name);
  *clicked = ImGui::IsItemClicked();
  const bool hovered = ImGui::IsItemHovered();
  const ImVec2 p0 = ImGui::GetItemRectMin(), p1 = ImGui::GetItemRectMax();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  dl->AddRectFilled(p0, p1, IM_COL32(255, 255, 255, 12), 2.0f);
  if (bars.empty()) return std::nullopt;
  const float bw = (p1.x - p0.x) / static_cast<float>(bars.size());
  std::optional<size_t> under;
  if (hovered) {
    const float x = ImGui::GetIO().MousePos.x - p0.x;
    under = std::min(bars.size() - 1, static_cast<size_t>(std::max(0.0f, x / bw)));
  }
  for (size_t i = 0; i < bars.size(); ++i) {
    const float x0 = p0.x + static_cast<float>(i) * bw, x1 = x0 + bw;
    if (selected == i || under == i) {
      dl->AddRectFilled(ImVec2(x0, p0.y), ImVec2(x1, p1.y),
                        selected == i ? IM_COL32(90, 150, 255, 60) : IM_COL32(255, 255, 255, 28));
    }
    const float gap = bw > 4.0f ? 1.0f : 0.0f;
    if (bars[i].value) {
      const float h = std::max(1.0f, (p1.y - p0.y) * std::clamp(*bars[i].value, 0.0f, 1.0f));
      dl->AddRectFilled(ImVec2(x0 + gap, p1.y - h), ImVec2(x1 - gap, p1.y), bars[i].color);
    }
    if (bars[i].mark) {
      const float y = p1.y - (p1.y - p0.y) * std::clamp(*bars[i].mark, 0.0f, 1.0f);
      dl->AddLine(ImVec2(x0 + gap, y), ImVec2(x1 - gap, y), IM_COL32(255, 255, 255, 220), 2.0f);
    }
  }
  return under;
}

}  // namespace

void StatsCharts::Load(ScreenContext& ctx, const std::string& webhook_id) {
  loading = true;
  last_load_ms = ctx.now_ms;
  const uint64_t gen = ++generation;
  ctx.api->Get("/api/v1/webhooks/" + webhook_id + "/stats?window=" + (window == 0 ? "24h" : "7d"),
               [this, gen](const ApiResponse& r) {
                 if (gen != generation) return;
                 loading = false;
                 if (!r.ok()) {
                   error = "Could not load statistics: " + r.error;
                   return;
                 }
                 error.clear();
                 loaded = true;
                 buckets.clear();
                 if (r.body.contains("buckets") && r.body["buckets"].is_array()) {
                   for (const Json& b : r.body["buckets"]) buckets.push_back(ParseBucket(b));
                 }
                 totals = r.body.contains("totals") ? ParseBucket(r.body["totals"]) : StatsBucket{};
               });
}

void StatsCharts::Tick(ScreenContext& ctx, const std::string& webhook_id) {
  if (!loading && ctx.now_ms - last_load_ms > kRefreshMs) Load(ctx, webhook_id);
}

std::optional<int64_t> StatsCharts::Draw(ScreenContext& ctx, const std::string& webhook_id,
                                         std::optional<int64_t> selected_hour) {
  UiState& ui = *ctx.ui;
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Attempts");
  ImGui::SameLine();
  for (int w = 0; w < 2; ++w) {
    const char* label = w == 0 ? "24 h" : "7 days";
    ImGui::PushStyleColor(
        ImGuiCol_Button,
        ImGui::GetStyleColorVec4(window == w ? ImGuiCol_ButtonActive : ImGuiCol_Button));
    if (NamedButton(ui, w == 0 ? "stats_24h" : "stats_7d", label) && window != w) {
      window = w;
      Load(ctx, webhook_id);
    }
    ImGui::PopStyleColor();
    ImGui::SameLine();
  }
  const int64_t n = totals.succeeded + totals.failed;
  if (loading && !loaded) {
    Spinner();
  } else if (n > 0) {
    ImGui::TextDisabled(
        "%lld succeeded, %lld failed (%.1f%%)%s%s", static_cast<long long>(totals.succeeded),
        static_cast<long long>(totals.failed),
        100.0 * static_cast<double>(totals.succeeded) / static_cast<double>(n),
        totals.p95_ms ? ", p95 " : "", totals.p95_ms ? DurationText(*totals.p95_ms).c_str() : "");
  } else {
    ImGui::TextDisabled("No attempts in this window");
  }
  if (!error.empty()) ErrorText(error);

  // Success rate: height = share succeeded, coloured by it. Latency: height = p95, the white
  // mark p50, both against the window's highest p95.
  int64_t peak_ms = 1;
  for (const StatsBucket& b : buckets) peak_ms = std::max(peak_ms, b.p95_ms.value_or(0));
  std::vector<Bar> rate, latency;
  std::optional<size_t> selected;
  for (size_t i = 0; i < buckets.size(); ++i) {
    const StatsBucket& b = buckets[i];
    if (selected_hour == b.start) selected = i;
    const int64_t total = b.succeeded + b.failed;
    Bar r{std::nullopt, std::nullopt, IM_COL32(87, 211, 100, 220)};
    if (total > 0) {
      const float share = static_cast<float>(b.succeeded) / static_cast<float>(total);
      r.value = share;
      r.color = share >= 0.99f  ? IM_COL32(87, 211, 100, 220)
                : share >= 0.9f ? IM_COL32(242, 191, 77, 230)
                                : IM_COL32(245, 107, 102, 230);
    }
    rate.push_back(r);
    Bar l{std::nullopt, std::nullopt, IM_COL32(90, 150, 255, 200)};
    if (b.p95_ms) l.value = static_cast<float>(*b.p95_ms) / static_cast<float>(peak_ms);
    if (b.p50_ms) l.mark = static_cast<float>(*b.p50_ms) / static_cast<float>(peak_ms);
    latency.push_back(l);
  }
  const float gap = ImGui::GetStyle().ItemSpacing.x;
  const float w = (ImGui::GetContentRegionAvail().x - gap) / 2.0f;
  // Under a chart: where the window starts and ends.
  const char* since = window == 0 ? "24 h ago" : "7 days ago";
  const auto TimeAxis = [since](float width) {
    ImGui::TextDisabled("%s", since);
    ImGui::SameLine(width - ImGui::CalcTextSize("now").x);  // from the group's left
    ImGui::TextDisabled("now");
  };
  const float h = ImGui::GetTextLineHeight() * 3.2f;
  std::optional<int64_t> clicked_hour;
  std::optional<size_t> hovered;
  ImGui::BeginGroup();
  ImGui::TextDisabled("Success rate by hour");
  bool clicked = false;
  if (auto u = BarChart(ui, "success_chart", rate, ImVec2(w, h), selected, &clicked)) {
    hovered = u;
    if (clicked) clicked_hour = buckets[*u].start;
  }
  TimeAxis(w);
  ImGui::EndGroup();
  ImGui::SameLine();
  ImGui::BeginGroup();
  char peak[64];
  std::snprintf(peak, sizeof peak, "Latency by hour: p95 bars, p50 marks (top %s)",
                DurationText(peak_ms).c_str());
  ImGui::TextDisabled("%s", peak);
  if (auto u = BarChart(ui, "latency_chart", latency, ImVec2(w, h), selected, &clicked)) {
    hovered = u;
    if (clicked) clicked_hour = buckets[*u].start;
  }
  TimeAxis(w);
  ImGui::EndGroup();
  if (hovered) {
    ImGui::SetTooltip("%s", BucketText(buckets[*hovered]).c_str());
    ui.SetField("chart_hover", BucketJson(buckets[*hovered]));
  } else {
    ui.SetField("chart_hover", nullptr);
  }
  ui.SetField("stats_window", window == 0 ? "24h" : "7d");
  ui.SetField("stats_loaded", loaded && !loading);
  ui.SetField("stats_totals", BucketJson(totals));
  for (const StatsBucket& b : buckets) ui.AddListItem("stats", BucketJson(b));
  return clicked_hour;
}

}  // namespace mambo::web
