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

WebhookStats ParseStats(const Json& entry) {
  WebhookStats s;
  if (entry.contains("last_delivery") && entry["last_delivery"].is_object()) {
    s.last = ParseDelivery(entry["last_delivery"]);
  }
  if (!entry.contains("stats_24h") || !entry["stats_24h"].is_object()) return s;
  const Json& j = entry["stats_24h"];
  s.succeeded = JInt(j, "succeeded");
  s.failed = JInt(j, "failed");
  s.p50_ms = JOptInt(j, "p50_ms");
  s.p95_ms = JOptInt(j, "p95_ms");
  for (const auto& [key, hours] : {std::pair{"hourly_succeeded", &s.ok_by_hour},
                                   std::pair{"hourly_failed", &s.fail_by_hour}}) {
    if (!j.contains(key) || !j[key].is_array()) continue;
    for (size_t h = 0; h < j[key].size() && h < 24; ++h) {
      if (j[key][h].is_number_integer()) (*hours)[h] = j[key][h].get<int64_t>();
    }
  }
  return s;
}

// 24 hourly bars: green height = successes, red on top = failures, scaled to the busiest hour.
void HourlyPlot(const WebhookStats& s, ImVec2 size) {
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const ImVec2 p = ImGui::GetCursorScreenPos();
  ImGui::Dummy(size);
  dl->AddRectFilled(p, ImVec2(p.x + size.x, p.y + size.y), IM_COL32(255, 255, 255, 14), 2.0f);
  int64_t peak = 0;
  for (int h = 0; h < 24; ++h) peak = std::max(peak, s.ok_by_hour[h] + s.fail_by_hour[h]);
  if (peak == 0) return;
  const float bw = size.x / 24.0f;
  for (int h = 0; h < 24; ++h) {
    const float x0 = p.x + h * bw + 0.5f, x1 = p.x + (h + 1) * bw - 0.5f;
    const float ok_h = size.y * static_cast<float>(s.ok_by_hour[h]) / static_cast<float>(peak);
    const float fail_h = size.y * static_cast<float>(s.fail_by_hour[h]) / static_cast<float>(peak);
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

// The rows shown stay until the new first page has come: a slow or failing API leaves what
// was there (with the error and Retry), never an empty list.
void WebhooksScreen::Open(ScreenContext& ctx) {
  ++generation;
  replace_rows = true;
  LoadPage(ctx, "");
}

void WebhooksScreen::Forget() {
  ++generation;
  rows.clear();
  stats.clear();
  next_cursor.reset();
  loading = loaded = replace_rows = false;
  error.clear();
}

void WebhooksScreen::Tick(ScreenContext& ctx) {
  if (!loading && loaded && ctx.now_ms - last_refresh_ms > kRefreshMs) Refresh(ctx);
}

void WebhooksScreen::Take(const Json& entry) {
  Webhook w = ParseWebhook(entry);
  stats[w.id] = ParseStats(entry);
  const auto row =
      std::find_if(rows.begin(), rows.end(), [&](const Webhook& r) { return r.id == w.id; });
  if (row != rows.end()) {
    *row = std::move(w);
  } else {
    rows.push_back(std::move(w));
  }
}

void WebhooksScreen::LoadPage(ScreenContext& ctx, const std::string& cursor) {
  loading = true;
  last_refresh_ms = ctx.now_ms;
  std::string path = "/api/v1/webhooks?limit=100";
  if (!cursor.empty()) path += "&cursor=" + ApiClient::Encode(cursor);
  const uint64_t gen = generation;
  ctx.api->Get(path, [this, gen](const ApiResponse& r) {
    if (gen != generation) return;
    loading = false;
    if (!r.ok()) {
      error = "Could not load webhooks: " + r.error;
      return;
    }
    error.clear();
    loaded = true;
    if (replace_rows) {  // the first page of an Open: what was shown before goes now
      replace_rows = false;
      rows.clear();
      stats.clear();
      next_cursor.reset();
    }
    if (r.body.contains("data") && r.body["data"].is_array()) {
      for (const Json& j : r.body["data"]) Take(j);
    }
    next_cursor = JOptStr(r.body, "next_cursor");
  });
}

// The figures of the rows shown, newest first: the first page, as large as the rows loaded (up
// to the API's 200; rows past them keep their last figures until the next Open).
void WebhooksScreen::Refresh(ScreenContext& ctx) {
  last_refresh_ms = ctx.now_ms;
  const size_t limit = std::clamp<size_t>(rows.size(), 100, 200);
  const uint64_t gen = generation;
  ctx.api->Get("/api/v1/webhooks?limit=" + std::to_string(limit),
               [this, gen](const ApiResponse& r) {
                 if (gen != generation) return;
                 if (!r.ok()) {  // the rows stay; the error says they may be old
                   error = "Could not refresh webhooks: " + r.error;
                   return;
                 }
                 error.clear();
                 if (!r.body.contains("data") || !r.body["data"].is_array()) return;
                 for (const Json& j : r.body["data"]) Take(j);
               });
}

// Webhooks webhookd switched off (auto-disable, a 410 Gone) are named above the list, each with
// a way to its page, where it can be enabled again and what failed recovered.
void WebhooksScreen::DrawDisabledBanners(ScreenContext& ctx) {
  constexpr size_t kShown = 3;
  std::vector<const Webhook*> disabled;
  for (const Webhook& w : rows) {
    if (!w.active && w.disabled_reason) disabled.push_back(&w);
  }
  ctx.ui->SetField("disabled_count", disabled.size());
  if (disabled.empty()) return;
  const size_t shown = std::min(disabled.size(), kShown);
  ImGui::PushStyleColor(ImGuiCol_ChildBg, ImVec4(0.45f, 0.14f, 0.13f, 0.55f));
  const float line = ImGui::GetFrameHeightWithSpacing();
  const float h = line * static_cast<float>(shown + (disabled.size() > shown ? 1 : 0)) +
                  ImGui::GetStyle().WindowPadding.y * 2.0f;
  ImGui::BeginChild("disabled_banners", ImVec2(0, h), ImGuiChildFlags_Border);
  for (size_t i = 0; i < shown; ++i) {
    const Webhook& w = *disabled[i];
    ImGui::PushID(w.id.c_str());
    ImGui::BeginGroup();
    if (NamedButton(*ctx.ui, "disabled_open:" + w.id, "Open")) ctx.go("/webhooks/" + w.id);
    ImGui::SameLine();
    ImGui::AlignTextToFramePadding();
    ImGui::TextColored(kErrorColor, "Disabled %s:", RelativeTime(ctx.now_ms, w.updated_at).c_str());
    ImGui::SameLine();
    TextView(w.url);
    ImGui::SameLine();
    ImGui::TextDisabled("%s", w.disabled_reason->c_str());
    ImGui::EndGroup();
    ctx.ui->RecordLastItem("disabled_banner:" + w.id);
    ImGui::PopID();
  }
  if (disabled.size() > shown) {
    ImGui::TextDisabled("and %d more disabled webhooks below",
                        static_cast<int>(disabled.size() - shown));
  }
  ImGui::EndChild();
  ImGui::PopStyleColor();
  ImGui::Spacing();
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
    ImGui::SameLine();
    ImGui::TextDisabled(rows.empty() ? "Loading webhooks" : "Refreshing");
    ui.RecordLastItem("loading");
  } else {
    ImGui::TextDisabled("%d webhook%s", static_cast<int>(rows.size()), rows.size() == 1 ? "" : "s");
  }
  if (!error.empty()) {
    ErrorText(rows.empty() ? error : error + " (showing what was loaded before)");
    if (NamedButton(ui, "retry_load", "Retry", !loading)) Open(ctx);
  }
  ImGui::Spacing();

  if (loaded && rows.empty() && !loading) {
    ImGui::Spacing();
    ImGui::TextUnformatted("No webhooks yet.");
    ImGui::TextDisabled(
        "A webhook sends an HTTPS POST to your endpoint when the events you pick happen.");
    ImGui::TextDisabled("Create one to start receiving events.");
  }

  DrawDisabledBanners(ctx);

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
        ElidedText(w.url, ImGui::GetContentRegionAvail().x);
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
          // One line in the row (whole on hover; the banner above says it all).
          ImGui::PushStyleColor(ImGuiCol_Text, kMutedColor);
          ElidedText(*w.disabled_reason, ImGui::GetContentRegionAvail().x);
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
        nlohmann::json attempts = nullptr;
        if (st == stats.end() || !st->second.last) {
          ImGui::TextDisabled("none yet");
        } else {
          const Delivery& d = *st->second.last;
          const std::string text = DeliveryResultText(d, ctx.now_ms, w.active);
          ImGui::TextColored(StatusColor(d.status), "%s", text.c_str());
          ImGui::TextDisabled("%s", RelativeTime(ctx.now_ms, d.updated_at).c_str());
          last = {{"status", ToString(d.status)},
                  {"label", text},
                  {"http_status", d.last_http_status ? nlohmann::json(*d.last_http_status)
                                                     : nlohmann::json(nullptr)},
                  {"at", FormatTimestamp(d.updated_at)}};
        }

        ImGui::TableNextColumn();
        if (st != stats.end()) {
          const WebhookStats& s = st->second;
          const int64_t done = s.succeeded + s.failed;
          if (done > 0) {
            const float pct = 100.0f * static_cast<float>(s.succeeded) / static_cast<float>(done);
            ImGui::TextColored(pct >= 99.0f   ? kOkColor
                               : pct >= 90.0f ? kWarnColor
                                              : kErrorColor,
                               "%.1f%%", pct);
            ImGui::SameLine();
            ImGui::TextDisabled("%lld/%lld", static_cast<long long>(s.succeeded),
                                static_cast<long long>(done));
            if (s.p95_ms) {
              ImGui::SameLine();
              ImGui::TextDisabled("p95 %s", DurationText(*s.p95_ms).c_str());
            }
            rate = pct;
          } else {
            ImGui::TextDisabled("no attempts");
          }
          HourlyPlot(s, ImVec2(ImGui::GetFontSize() * 9.0f, ImGui::GetTextLineHeight() * 0.9f));
          if (ImGui::IsItemHovered()) {
            ImGui::SetTooltip(
                "Attempts per hour over the last 24 h (green: succeeded, red: failed).");
          }
          attempts = Json{{"succeeded", s.succeeded},
                          {"failed", s.failed},
                          {"p50_ms", s.p50_ms ? Json(*s.p50_ms) : Json(nullptr)},
                          {"p95_ms", s.p95_ms ? Json(*s.p95_ms) : Json(nullptr)}};
        }
        ImGui::PopID();

        ui.AddListItem("webhooks", {{"id", w.id},
                                    {"url", w.url},
                                    {"active", w.active},
                                    {"status", status_text},
                                    {"events", w.events.size()},
                                    {"last_delivery", last},
                                    {"success_rate_24h", rate},
                                    {"attempts_24h", attempts}});
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
