#pragma once
// The console application: owns one state struct per screen and decides which one is drawn.
// Today there is one screen (the event catalog with the URL check, the seed of the create/edit
// form); sign-in, webhooks list, create/edit, details with delivery history and the audit log
// join ScreenId and App as they are built.

#include <string_view>

#include "screens/catalog_screen.h"

struct ImGuiStyle;

namespace mambo::web {

enum class ScreenId {
  kCatalog,
};

// Stable name reported to tests (ui_state_json "screen") and used in navigation.
std::string_view ScreenName(ScreenId id);

// The console's colours and spacing, at 1 CSS pixel per pixel (main.cpp scales it).
void ApplyConsoleStyle(ImGuiStyle& style);

class App {
 public:
  // Draws one frame between ImGui::NewFrame() and ImGui::Render(). `pixel_ratio` is the
  // devicePixelRatio ImGui coordinates are scaled by (reported rectangles are in CSS pixels).
  void Draw(float pixel_ratio);

  void Navigate(ScreenId screen) { screen_ = screen; }
  ScreenId screen() const { return screen_; }

 private:
  void DrawHeader(std::string_view screen_title);

  ScreenId screen_ = ScreenId::kCatalog;
  CatalogScreen catalog_;
};

}  // namespace mambo::web
