#include "screens/webhooks_screen.h"

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

WebhookStats ComputeStats(const Json& page, int64_t now_ms) {
  WebhookStats s;
  s.loaded = true;
  if (!page.is_object() || !page.contains("data") || !page["data"].is_array()) return s;
  const Json& data = page["data"];
  bool all_recent = !data.empty();
  for (const Json& j : data) {
    const Delivery d = ParseDelivery(j);
    if (!s.last) s.last = d;
    const int64_t age = now_ms - d.created_at;
    if (age > 24 * kHourMs) {
      all_recent = false;
      continue;
    }
    const int hour = 23 - static_cast<int>(std::clamp<int64_t>(age, 0, 24 * kHourMs - 1) / kHourMs);
    switch (d.status) {
      case DeliveryStatus::kSucceeded:
        ++s.succeeded;
        ++s.ok_by_hour[hour];
        break;
      case DeliveryStatus::kFailed:
      case DeliveryStatus::kExhausted:
        ++s.failed;
        ++s.fail_by_hour[hour];
        break;
      default:
        ++s.waiting;
    }
  }
  s.sample_full = all_recent && page.contains("next_cursor") && page["next_cursor"].is_string();
  return s;
}

// 24 hourly bars: green height = successes, red on top = failures, scaled to the busiest hour.
void HourlyPlot(const WebhookStats& s, ImVec2 size) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  ImGui::Dummy(size);
  dl->AddRectFilled(p, ImVec2(p.x + size.x, p.y + size.y), IM_COL32(255, 255, 255, 14), 2.0f);
  int peak = 0;
  for (int h = 0; h < 24; ++h) peak = std::max(peak, s.ok_by_hour[h] + s.fail_by_hour[h]);
  if (peak == 0) return;
  const float bw = size.x / 24.0f;
  for (int h = 0; h < 24; ++h) {
    const float x0 = p.x + h * bw + 0.5f, x1 = p.x + (h + 1) * bw - 0.5f;
    const float ok_h = size.y * s.ok_by_hour[h] / peak;
    const float fail_h = size.y * s.fail_by_hour[h] / peak;
    const float base = p.y + size.y;
    if (ok_h > 0)
      dl->AddRectFilled(ImVec2(x0, base - ok_h), ImVec2(x1, base), IM_COL32(87, 211, 100, 220));
    if (fail_h > 0) {
      dl->AddRectFilled(ImVec2(x0, base - ok_h - fail_h), ImVec2(x1, base - ok_h),
                        IM_COL32(245, 107, 102, 230));
    }
  }
}

}  // namespace

void WebhooksScreen::Open(ScreenContext& ctx) {
  ++generation;
  rows.clear();
  next_cursor.reset();
  error.clear();
  loaded = false;
  LoadPage(ctx, "");
}

void WebhooksScreen::Tick(ScreenContext& ctx) {
  if (!loading && loaded && ctx.now_ms - last_refresh_ms > kRefreshMs) {
    // Refresh only the numbers: the list itself changes through this console.
    last_refresh_ms = ctx.now_ms;
    for (const Webhook& w : rows) LoadStats(ctx, w.id);
  }
}

void WebhooksScreen::LoadPage(ScreenContext& ctx, const std::string& cursor) {
  loading = true;
  last_refresh_ms = ctx.now_ms;
  std::string path = "/api/v1/webhooks?limit=100";
  if (!cursor.empty()) path += "&cursor=" + ApiClient::Encode(cursor);
  const uint64_t gen = generation;
  ScreenContext* c = &ctx;
  ctx.api->Get(path, [this, gen, c](const ApiResponse& r) {
    if (gen != generation) return;
    loading = false;
    if (!r.ok()) {
      error = "Could not load webhooks: " + r.error;
      return;
    }
    error.clear();
    loaded = true;
    if (r.body.contains("data") && r.body["data"].is_array()) {
      for (const Json& j : r.body["data"]) {
        rows.push_back(ParseWebhook(j));
        LoadStats(*c, rows.back().id);
      }
    }
    next_cursor = JOptStr(r.body, "next_cursor");
  });
}

void WebhooksScreen::LoadStats(ScreenContext& ctx, const std::string& id) {
  const uint64_t gen = generation;
  const std::string path =
      "/api/v1/webhooks/" + id + "/deliveries?limit=" + std::to_string(kStatsSample);
  ScreenContext* c = &ctx;
  ctx.api->Get(path, [this, gen, id, c](const ApiResponse& r) {
    if (gen != generation) return;
    if (!r.ok()) {
      stats[id].error = r.error;
      return;
    }
    stats[id] = ComputeStats(r.body, c->now_ms);
  });
}

void WebhooksScreen::Draw(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (ctx.can_write) {
    if (NamedButton(ui, "create", "+ Create Webhook")) ctx.go("/webhooks/new");
    ImGui::SameLine();
  }
  if (NamedButton(ui, "refresh", "Refresh", !loading)) Open(ctx);
  ImGui::SameLine();
  if (loading) {
    Spinner();
  } else {
    ImGui::TextDisabled("%d webhook%s", static_cast<int>(rows.size()), rows.size() == 1 ? "" : "s");
  }
  if (!error.empty()) ErrorText(error);
  ImGui::Spacing();

  if (loaded && rows.empty() && !loading) {
    ImGui::Spacing();
    ImGui::TextUnformatted("No webhooks yet.");
    ImGui::TextDisabled(
        "A webhook sends an HTTPS POST to your endpoint when the events you pick happen.");
    ImGui::TextDisabled("Create one to start receiving events.");
  }

  constexpr ImGuiTableFlags kTable = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                     ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchProp |
                                     ImGuiTableFlags_Resizable;
  const float row_h = ImGui::GetTextLineHeightWithSpacing() * 2.0f + 4.0f;
  if (!rows.empty() && ImGui::BeginTable("webhooks", 5, kTable, ImVec2(0, 0))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("Endpoint", ImGuiTableColumnFlags_WidthStretch, 4.0f);
    ImGui::TableSetupColumn("Status", ImGuiTableColumnFlags_WidthStretch, 1.6f);
    ImGui::TableSetupColumn("Events", ImGuiTableColumnFlags_WidthStretch, 0.7f);
    ImGui::TableSetupColumn("Last delivery", ImGuiTableColumnFlags_WidthStretch, 1.8f);
    ImGui::TableSetupColumn("Success, last 24 h", ImGuiTableColumnFlags_WidthStretch, 2.0f);
    ImGui::TableHeadersRow();

    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(rows.size()), row_h);
    while (clipper.Step()) {
      for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
        const Webhook& w = rows[i];
        ImGui::TableNextRow(ImGuiTableRowFlags_None, row_h);
        ImGui::TableNextColumn();
        ImGui::PushID(w.id.c_str());
        const bool open = ImGui::Selectable(
            "##row", false, ImGuiSelectableFlags_SpanAllColumns | ImGuiSelectableFlags_AllowOverlap,
            ImVec2(0, row_h - 4.0f));
        ui.RecordLastItem("row:" + w.id);
        if (open) ctx.go("/webhooks/" + w.id);
        ImGui::SameLine(0, 0);
        ImGui::BeginGroup();
        TextView(w.url);
        if (w.description && !w.description->empty()) {
          ImGui::TextDisabled("%s", w.description->c_str());
        } else {
          ImGui::TextDisabled("%s", w.id.c_str());
        }
        ImGui::EndGroup();

        ImGui::TableNextColumn();
        std::string status_text = w.active ? "Active" : "Inactive";
        if (w.active) {
          ImGui::TextColored(kOkColor, "Active");
        } else if (w.disabled_reason) {
          ImGui::TextColored(kErrorColor, "Disabled");
          ImGui::PushStyleColor(ImGuiCol_Text, kMutedColor);
          ImGui::PushTextWrapPos(0.0f);
          TextView(*w.disabled_reason);
          ImGui::PopTextWrapPos();
          ImGui::PopStyleColor();
          status_text = "Disabled: " + *w.disabled_reason;
        } else {
          ImGui::TextColored(kMutedColor, "Inactive");
        }

        ImGui::TableNextColumn();
        ImGui::Text("%d", static_cast<int>(w.events.size()));

        ImGui::TableNextColumn();
        const auto st = stats.find(w.id);
        nlohmann::json last = nullptr;
        nlohmann::json rate = nullptr;
        if (st == stats.end()) {
          ImGui::TextDisabled("loading");
        } else if (!st->second.error.empty()) {
          ImGui::TextColored(kErrorColor, "unavailable");
          if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", st->second.error.c_str());
        } else if (!st->second.last) {
          ImGui::TextDisabled("none yet");
        } else {
          const Delivery& d = *st->second.last;
          const std::string text = DeliveryResultText(d);
          ImGui::TextColored(StatusColor(d.status), "%s", text.c_str());
          ImGui::TextDisabled("%s", RelativeTime(ctx.now_ms, d.updated_at).c_str());
          last = {{"status", ToString(d.status)},
                  {"http_status", d.last_http_status ? nlohmann::json(*d.last_http_status)
                                                     : nlohmann::json(nullptr)},
                  {"at", FormatTimestamp(d.updated_at)}};
        }

        ImGui::TableNextColumn();
        if (st != stats.end() && st->second.loaded) {
          const WebhookStats& s = st->second;
          const int done = s.succeeded + s.failed;
          if (done > 0) {
            const float pct = 100.0f * s.succeeded / done;
            ImGui::TextColored(pct >= 99.0f   ? kOkColor
                               : pct >= 90.0f ? kWarnColor
                                              : kErrorColor,
                               "%.1f%%", pct);
            ImGui::SameLine();
            ImGui::TextDisabled("%d/%d%s", s.succeeded, done, s.sample_full ? "+" : "");
            rate = pct;
          } else {
            ImGui::TextDisabled(s.waiting > 0 ? "%d waiting" : "no deliveries", s.waiting);
          }
          HourlyPlot(s, ImVec2(ImGui::GetFontSize() * 9.0f, ImGui::GetTextLineHeight() * 0.9f));
          if (ImGui::IsItemHovered()) {
            ImGui::SetTooltip(
                "Deliveries per hour over the last 24 h (green: succeeded, red: failed).\n"
                "From the newest %d deliveries of this webhook.",
                kStatsSample);
          }
        }
        ImGui::PopID();

        ui.AddListItem("webhooks", {{"id", w.id},
                                    {"url", w.url},
                                    {"active", w.active},
                                    {"status", status_text},
                                    {"events", w.events.size()},
                                    {"last_delivery", last},
                                    {"success_rate_24h", rate}});
      }
    }
    // Endless list: the next page loads when its end scrolls into view.
    if (next_cursor && !loading && ImGui::GetScrollY() >= ImGui::GetScrollMaxY() - row_h * 3) {
      LoadPage(ctx, *next_cursor);
    }
    ImGui::EndTable();
  }
  ui.SetField("count", rows.size());
  ui.SetField("loading", loading);
  ui.SetField("error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error));
}

}  // namespace mambo::web
