#include "screens/audit_screen.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include "api_client.h"
#include "screen_context.h"
#include "ui_state.h"
#include "widgets.h"

namespace mambo::web {

void AuditScreen::Open(ScreenContext& ctx) {
  ++generation;
  entries.clear();
  next_cursor.reset();
  loaded = false;
  selected = -1;
  error.clear();
  LoadPage(ctx, "");
}

void AuditScreen::LoadPage(ScreenContext& ctx, const std::string& cursor) {
  loading = true;
  std::string path = "/api/v1/audit?limit=200";
  if (!cursor.empty()) path += "&cursor=" + ApiClient::Encode(cursor);
  const uint64_t gen = generation;
  ctx.api->Get(path, [this, gen](const ApiResponse& r) {
    if (gen != generation) return;
    loading = false;
    if (!r.ok()) {
      error = "Could not load the audit log: " + r.error;
      return;
    }
    error.clear();
    loaded = true;
    if (r.body.contains("data") && r.body["data"].is_array()) {
      for (const Json& j : r.body["data"]) {
        AuditEntry e;
        e.id = JStr(j, "id");
        e.actor = JStr(j, "actor");
        e.action = JStr(j, "action");
        e.target_id = JStr(j, "target_id");
        e.at = JTime(j, "at");
        if (j.contains("before")) e.before = j["before"];
        if (j.contains("after")) e.after = j["after"];
        entries.push_back(std::move(e));
      }
    }
    next_cursor = JOptStr(r.body, "next_cursor");
  });
}

void AuditScreen::Draw(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (NamedButton(ui, "refresh", "Refresh", !loading)) Open(ctx);
  ImGui::SameLine();
  if (loading) {
    Spinner();
  } else {
    ImGui::TextDisabled("%d entr%s%s", static_cast<int>(entries.size()),
                        entries.size() == 1 ? "y" : "ies", next_cursor ? " (more below)" : "");
  }
  if (!error.empty()) ErrorText(error);
  if (loaded && entries.empty()) ImGui::TextDisabled("Nothing has happened yet.");

  const bool has_detail = selected >= 0 && selected < static_cast<int>(entries.size());
  const float list_h = has_detail ? ImGui::GetContentRegionAvail().y * 0.55f : 0.0f;
  constexpr ImGuiTableFlags kTable = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                     ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchProp;
  if (ImGui::BeginTable("audit", 4, kTable, ImVec2(0, list_h))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("When", ImGuiTableColumnFlags_WidthStretch, 1.4f);
    ImGui::TableSetupColumn("Action", ImGuiTableColumnFlags_WidthStretch, 1.4f);
    ImGui::TableSetupColumn("Target", ImGuiTableColumnFlags_WidthStretch, 1.6f);
    ImGui::TableSetupColumn("Actor (token)", ImGuiTableColumnFlags_WidthStretch, 1.6f);
    ImGui::TableHeadersRow();
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(entries.size()));
    while (clipper.Step()) {
      for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
        const AuditEntry& e = entries[i];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::PushID(i);
        if (ImGui::Selectable(ShortTime(e.at).c_str(), i == selected,
                              ImGuiSelectableFlags_SpanAllColumns)) {
          selected = i == selected ? -1 : i;
        }
        ImGui::PopID();
        ui.RecordLastItem("audit:" + e.id);
        ImGui::TableNextColumn();
        TextView(e.action);
        ImGui::TableNextColumn();
        TextView(e.target_id);
        ImGui::TableNextColumn();
        ImGui::TextDisabled("%s", e.actor.c_str());
        ui.AddListItem("audit", {{"id", e.id},
                                 {"action", e.action},
                                 {"target_id", e.target_id},
                                 {"at", FormatTimestamp(e.at)}});
      }
    }
    if (next_cursor && !loading && clipper.DisplayEnd >= static_cast<int>(entries.size()) - 40) {
      LoadPage(ctx, *next_cursor);
    }
    ImGui::EndTable();
  }
  if (has_detail) {
    const AuditEntry& e = entries[selected];
    ImGui::Text("%s on %s at %s", e.action.c_str(), e.target_id.c_str(),
                FormatTimestamp(e.at).c_str());
    const float w = ImGui::GetContentRegionAvail().x * 0.5f - 4.0f;
    std::string before = e.before.is_null()
                             ? "(none)"
                             : e.before.dump(2, ' ', false, Json::error_handler_t::replace);
    std::string after =
        e.after.is_null() ? "(none)" : e.after.dump(2, ' ', false, Json::error_handler_t::replace);
    ImGui::BeginGroup();
    ImGui::TextDisabled("Before");
    ImGui::InputTextMultiline("##before", &before, ImVec2(w, -1), ImGuiInputTextFlags_ReadOnly);
    ImGui::EndGroup();
    ImGui::SameLine();
    ImGui::BeginGroup();
    ImGui::TextDisabled("After");
    ImGui::InputTextMultiline("##after", &after, ImVec2(w, -1), ImGuiInputTextFlags_ReadOnly);
    ImGui::EndGroup();
  }
  ui.SetField("count", entries.size());
  ui.SetField("loading", loading);
  ui.SetField("selected",
              has_detail ? nlohmann::json(entries[selected].id) : nlohmann::json(nullptr));
}

}  // namespace mambo::web
