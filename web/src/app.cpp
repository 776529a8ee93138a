#include "app.h"

#include <imgui.h>

#include "ui_state.h"

namespace mambo::web {

std::string_view ScreenName(ScreenId id) {
  switch (id) {
    case ScreenId::kCatalog:
      return "catalog";
  }
  return "unknown";
}

void ApplyConsoleStyle(ImGuiStyle& style) {
  ImGui::StyleColorsDark(&style);
  style.WindowRounding = 0.0f;
  style.FrameRounding = 4.0f;
  style.GrabRounding = 4.0f;
  style.PopupRounding = 4.0f;
  style.WindowPadding = ImVec2(16, 12);
  style.FramePadding = ImVec2(8, 5);
  style.ItemSpacing = ImVec2(8, 6);
  style.IndentSpacing = 18.0f;
  style.Colors[ImGuiCol_WindowBg] = ImVec4(0.06f, 0.07f, 0.08f, 1.0f);
  style.Colors[ImGuiCol_ChildBg] = ImVec4(0.09f, 0.10f, 0.12f, 1.0f);
}

void App::Draw(float pixel_ratio) {
  UiState& ui = CurrentUiState();
  ui.BeginFrame(ScreenName(screen_), pixel_ratio);

  // One borderless window covering the canvas: the page is the application, not a desktop.
  const ImGuiViewport* viewport = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(viewport->WorkPos);
  ImGui::SetNextWindowSize(viewport->WorkSize);
  constexpr ImGuiWindowFlags kPage = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                     ImGuiWindowFlags_NoSavedSettings |
                                     ImGuiWindowFlags_NoBringToFrontOnFocus;
  ImGui::Begin("console", nullptr, kPage);
  switch (screen_) {
    case ScreenId::kCatalog:
      DrawHeader(CatalogScreen::kTitle);
      catalog_.Draw(ui);
      break;
  }
  ImGui::End();

  ui.EndFrame();
}

void App::DrawHeader(std::string_view screen_title) {
  ImGui::TextUnformatted("mambo EMM");
  ImGui::SameLine();
  ImGui::TextDisabled("|");
  ImGui::SameLine();
  ImGui::TextUnformatted("Webhooks");
  ImGui::SameLine();
  ImGui::TextDisabled("|");
  ImGui::SameLine();
  ImGui::TextUnformatted(screen_title.data(), screen_title.data() + screen_title.size());
  ImGui::Separator();
  ImGui::Spacing();
}

}  // namespace mambo::web
