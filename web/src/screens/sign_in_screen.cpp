#include "screens/sign_in_screen.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include "screen_context.h"
#include "ui_state.h"
#include "widgets.h"

namespace mambo::web {

void SignInScreen::Draw(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const float width = ImGui::GetFontSize() * 34.0f;
  ImGui::Spacing();
  ImGui::TextUnformatted("Sign in with an admin API token");
  ImGui::TextDisabled("Create one on the server: webhookd token create --team <team> --role admin");
  ImGui::TextDisabled(
      "The token stays in this tab only (sessionStorage) and is sent only to this server.");
  ImGui::Spacing();

  if (focus_token) {
    ImGui::SetKeyboardFocusHere();
    focus_token = false;
  }
  ImGui::SetNextItemWidth(width);
  ImGui::BeginDisabled(checking);
  const bool enter =
      ImGui::InputTextWithHint("##token", "mwh_...", &token,
                               ImGuiInputTextFlags_Password | ImGuiInputTextFlags_EnterReturnsTrue);
  ImGui::EndDisabled();
  ui.RecordLastItem("token");
  ImGui::SameLine();
  const bool clicked = NamedButton(ui, "sign_in", "Sign in", !checking && !token.empty());
  if ((enter || clicked) && !checking && !token.empty() && submit) {
    error.clear();
    ++submits;
    submit(token);
  }
  if (checking) {
    ImGui::SameLine();
    ImGui::TextDisabled("Checking token");
    ImGui::SameLine();
    Spinner();
  }
  if (!error.empty()) {
    ImGui::PushTextWrapPos(width);
    ErrorText(error);
    ImGui::PopTextWrapPos();
  }
  ui.RecordLastItem("sign_in_message");

  ui.SetField("token_length", token.size());
  ui.SetField("checking", checking);
  ui.SetField("submits", submits);
  ui.SetField("error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error));
}

}  // namespace mambo::web
