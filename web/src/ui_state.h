#pragma once
// What the console shows, as data: the current screen, its fields, the catalog tree nodes and list
// rows that are visible and the rectangle of every widget drawn this frame (CSS pixels, relative to
// the page). Screens record into it while they draw; browser tests read it through ui_state_json()
// and then click and type at the rectangles like a user would. Nothing here decides what the UI
// does.

#include <emscripten/emscripten.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace mambo::web {

struct WidgetRect {
  float x = 0, y = 0, w = 0, h = 0;  // CSS pixels
};

class UiState {
 public:
  // Starts a frame: forgets last frame's rectangles, fields and nodes. `pixels_per_css_px` is the
  // device pixel ratio ImGui draws at (its coordinates are canvas pixels).
  void BeginFrame(std::string_view screen, float pixels_per_css_px);
  // Ends a frame: the recorded data becomes what ui_state_json() reports.
  void EndFrame();

  // Records the last submitted ImGui item's rectangle under `label`, if it is visible.
  void RecordLastItem(const std::string& label);
  void SetField(const std::string& name, nlohmann::json value);
  // A tree node drawn this frame: kind "category" | "group" | "event".
  void AddTreeNode(nlohmann::json node);
  // Appends a row to the named list ("webhooks", "deliveries", ...) reported under "lists".
  void AddListItem(const std::string& list, nlohmann::json item);

  std::string ToJson() const;

 private:
  struct Frame {
    std::string screen;
    nlohmann::json fields = nlohmann::json::object();
    nlohmann::json tree = nlohmann::json::array();
    nlohmann::json lists = nlohmann::json::object();
    std::map<std::string, WidgetRect> widgets;
    nlohmann::json mouse;  // where ImGui saw the pointer at the end of the frame (CSS pixels)
    bool text_input_active = false;  // a text field has keyboard focus
  };
  Frame building_;
  Frame published_;
  float scale_ = 1.0f;
  unsigned long long frame_ = 0;
};

// The one instance the running console draws into (the exported C function has no other way in).
UiState& CurrentUiState();

}  // namespace mambo::web

// JSON text of the last complete frame; valid until the next call. Exported for tests and tools.
extern "C" EMSCRIPTEN_KEEPALIVE const char* ui_state_json();
