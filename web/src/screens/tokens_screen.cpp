#include "screens/tokens_screen.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include "api_client.h"
#include "screen_context.h"
#include "ui_state.h"
#include "widgets.h"

namespace mambo::web {
namespace {

constexpr const char* kRoles[] = {"admin", "viewer", "ingest"};
constexpr const char* kRoleHelp[] = {
    "everything: webhooks, secrets, tokens",
    "every read, but not secrets or header values; changes nothing",
    "only posting events (for the systems that produce them)",
};

std::string OptTime(const std::optional<int64_t>& t, const char* none) {
  return t ? ShortTime(*t) : std::string(none);
}

}  // namespace

void TokensScreen::Open(ScreenContext& ctx) {
  ++generation;
  rows.clear();
  loaded = false;
  error.clear();
  Load(ctx);
}

void TokensScreen::Load(ScreenContext& ctx) {
  loading = true;
  const uint64_t gen = generation;
  ctx.api->Get("/api/v1/tokens", [this, gen](const ApiResponse& r) {
    if (gen != generation) return;
    loading = false;
    if (!r.ok()) {
      error = "Could not load the tokens: " + r.error;  // the rows shown stay
      return;
    }
    error.clear();
    loaded = true;
    rows.clear();
    if (r.body.contains("data") && r.body["data"].is_array()) {
      for (const Json& j : r.body["data"]) {
        TokenRow t;
        t.id = JStr(j, "id");
        t.role = JStr(j, "role");
        t.description = JStr(j, "description");
        t.created_at = JTime(j, "created_at");
        if (JOptStr(j, "expires_at")) t.expires_at = JTime(j, "expires_at");
        if (JOptStr(j, "last_used_at")) t.last_used_at = JTime(j, "last_used_at");
        t.current = JBool(j, "current");
        rows.push_back(std::move(t));
      }
    }
  });
}

void TokensScreen::Draw(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (NamedButton(ui, "refresh", "Refresh", !loading)) Load(ctx);
  ImGui::SameLine();
  if (loading) {
    Spinner();
  } else {
    ImGui::TextDisabled("%d token%s", static_cast<int>(rows.size()), rows.size() == 1 ? "" : "s");
  }
  if (!error.empty()) ErrorText(error);
  if (ctx.can_write) DrawCreate(ctx);
  DrawList(ctx);
  DrawRevokeModal(ctx);
  ui.SetField("count", rows.size());
  ui.SetField("loading", loading);
  ui.SetField("created_token", created_token.empty() ? Json(nullptr) : Json(created_token));
  ui.SetField("form_error", form_error.empty() ? Json(nullptr) : Json(form_error));
}

void TokensScreen::DrawCreate(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  ImGui::Separator();
  if (!created_token.empty()) {
    ImGui::TextColored(kWarnColor,
                       "New token: copy it now; webhookd keeps only its hash and "
                       "cannot show it again.");
    std::string shown = created_token;
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 30.0f);
    ImGui::InputText("##new_token", &shown, ImGuiInputTextFlags_ReadOnly);
    ui.RecordLastItem("new_token");
    ImGui::SameLine();
    if (NamedButton(ui, "copy_token", "Copy")) {
      ImGui::SetClipboardText(created_token.c_str());
      ctx.notice("Token copied to the clipboard");
    }
    ImGui::SameLine();
    if (NamedButton(ui, "dismiss_token", "I saved it")) created_token.clear();
    ImGui::Separator();
  }
  const float label_w = ImGui::GetFontSize() * 7.0f;
  ImGui::TextUnformatted("New token");
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Role");
  ImGui::SameLine(label_w);
  for (int i = 0; i < 3; ++i) {
    if (ImGui::RadioButton(kRoles[i], role == i)) role = i;
    ui.RecordLastItem(std::string("role:") + kRoles[i]);
    ImGui::SameLine();
  }
  ImGui::TextDisabled("(%s)", kRoleHelp[role]);
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("For");
  ImGui::SameLine(label_w);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 24.0f);
  ImGui::InputTextWithHint("##token_description", "what it is for: who or which system",
                           &description);
  ui.RecordLastItem("token_description");
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Expires");
  ImGui::SameLine(label_w);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 16.0f);
  ImGui::InputTextWithHint("##token_expires", "never, or 2027-01-31T00:00:00Z", &expires_at);
  ui.RecordLastItem("token_expires");
  const std::optional<int64_t> expiry =
      expires_at.empty() ? std::nullopt : ParseTimestamp(expires_at);
  const bool expiry_ok = expires_at.empty() || (expiry && *expiry > ctx.now_ms);
  if (!expiry_ok) {
    ImGui::SameLine();
    ImGui::TextColored(kErrorColor, expiry ? "must be in the future" : "not an RFC 3339 time");
  }
  ImGui::SameLine();
  if (NamedButton(ui, "create_token", "Create token", !creating && expiry_ok)) {
    Json body{{"role", kRoles[role]}, {"description", description}};
    if (expiry) body["expires_at"] = FormatTimestamp(*expiry);
    creating = true;
    form_error.clear();
    const uint64_t gen = generation;
    ScreenContext* c = &ctx;
    ctx.api->Send("POST", "/api/v1/tokens", body, [this, gen, c](const ApiResponse& r) {
      if (gen != generation) return;
      creating = false;
      if (!r.ok()) {
        form_error = r.error;
        for (const FieldError& f : r.fields) form_error += "; " + f.field + ": " + f.message;
        return;
      }
      created_token = JStr(r.body, "token");
      created_id = JStr(r.body, "id");
      description.clear();
      expires_at.clear();
      c->notice("Token created");
      Load(*c);
    });
  }
  if (!form_error.empty()) ErrorText(form_error);
  ImGui::Separator();
}

void TokensScreen::DrawList(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (loaded && rows.empty()) ImGui::TextDisabled("No tokens.");
  constexpr ImGuiTableFlags kTable = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                     ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchProp;
  const int columns = ctx.can_write ? 7 : 6;
  if (!ImGui::BeginTable("tokens", columns, kTable)) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("Id", ImGuiTableColumnFlags_WidthStretch, 1.6f);
  ImGui::TableSetupColumn("Role", ImGuiTableColumnFlags_WidthStretch, 0.6f);
  ImGui::TableSetupColumn("For", ImGuiTableColumnFlags_WidthStretch, 1.8f);
  ImGui::TableSetupColumn("Created", ImGuiTableColumnFlags_WidthStretch, 1.2f);
  ImGui::TableSetupColumn("Last used", ImGuiTableColumnFlags_WidthStretch, 1.0f);
  ImGui::TableSetupColumn("Expires", ImGuiTableColumnFlags_WidthStretch, 1.2f);
  if (ctx.can_write) ImGui::TableSetupColumn("", ImGuiTableColumnFlags_WidthStretch, 0.7f);
  ImGui::TableHeadersRow();
  for (const TokenRow& t : rows) {
    ImGui::TableNextRow();
    ImGui::PushID(t.id.c_str());
    ImGui::TableNextColumn();
    TextView(t.id);
    if (t.current) {
      ImGui::SameLine();
      ImGui::TextColored(kAccentColor, "(this session)");
    }
    ImGui::TableNextColumn();
    TextView(t.role);
    ImGui::TableNextColumn();
    TextView(t.description.empty() ? "-" : t.description);
    ImGui::TableNextColumn();
    TextView(ShortTime(t.created_at));
    ImGui::TableNextColumn();
    TextView(t.last_used_at ? RelativeTime(ctx.now_ms, *t.last_used_at) : "never");
    ImGui::TableNextColumn();
    const bool expired = t.expires_at && *t.expires_at <= ctx.now_ms;
    if (expired) {
      ImGui::TextColored(kErrorColor, "expired %s", ShortTime(*t.expires_at).c_str());
    } else {
      TextView(OptTime(t.expires_at, "never"));
    }
    if (ctx.can_write) {
      ImGui::TableNextColumn();
      if (NamedButton(ui, "revoke:" + t.id, "Revoke...", !revoking)) {
        revoke_id = t.id;
        open_revoke = true;
      }
    }
    ImGui::PopID();
    ui.AddListItem("tokens", {{"id", t.id},
                              {"role", t.role},
                              {"description", t.description},
                              {"current", t.current},
                              {"expired", expired},
                              {"last_used", t.last_used_at.has_value()}});
  }
  ImGui::EndTable();
}

void TokensScreen::DrawRevokeModal(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (open_revoke) ImGui::OpenPopup("Revoke token?");
  open_revoke = false;
  const ImVec2 center = ImGui::GetMainViewport()->GetCenter();
  ImGui::SetNextWindowPos(center, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  if (!ImGui::BeginPopupModal("Revoke token?", nullptr, ImGuiWindowFlags_AlwaysAutoResize)) return;
  ui.SetField("modal", "revoke_token");
  const bool self = revoke_id == ctx.token_id;
  ImGui::Text("Revoke %s? Every request with it is refused from now on.", revoke_id.c_str());
  if (self) {
    ImGui::TextColored(kWarnColor, "This is the token of this session: you will be signed out.");
  }
  if (NamedButton(ui, "confirm_revoke", self ? "Revoke and sign out" : "Revoke", !revoking)) {
    revoking = true;
    const uint64_t gen = generation;
    ScreenContext* c = &ctx;
    const std::string id = revoke_id;
    ctx.api->Send("DELETE", "/api/v1/tokens/" + id + (self ? "?confirm=true" : ""), std::nullopt,
                  [this, gen, c, self](const ApiResponse& r) {
                    if (gen != generation) return;
                    revoking = false;
                    if (!r.ok()) {
                      c->error("Not revoked: " + r.error);
                      return;
                    }
                    if (self && on_self_revoked) {
                      on_self_revoked();
                      return;
                    }
                    c->notice("Token revoked");
                    Load(*c);
                  });
    ImGui::CloseCurrentPopup();
  }
  ImGui::SameLine();
  if (NamedButton(ui, "cancel_revoke", "Cancel") || ImGui::IsKeyPressed(ImGuiKey_Escape)) {
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

}  // namespace mambo::web
