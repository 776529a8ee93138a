#include "ui_state.h"

#include <emscripten/emscripten.h>
#include <imgui.h>

#include <utility>

namespace mambo::web {

void UiState::BeginFrame(std::string_view screen, float pixels_per_css_px) {
  building_ = Frame{};
  building_.screen = std::string(screen);
  scale_ = pixels_per_css_px > 0 ? pixels_per_css_px : 1.0f;
}

void UiState::EndFrame() {
  const ImGuiIO& io = ImGui::GetIO();
  building_.mouse = {
      {"x", io.MousePos.x / scale_}, {"y", io.MousePos.y / scale_}, {"down", io.MouseDown[0]}};
  building_.text_input_active = io.WantTextInput;
  published_ = std::move(building_);
  building_ = Frame{};
  ++frame_;
}

void UiState::RecordLastItem(const std::string& label) {
  if (!ImGui::IsItemVisible()) return;
  const ImVec2 min = ImGui::GetItemRectMin();
  const ImVec2 max = ImGui::GetItemRectMax();
  building_.widgets[label] = {min.x / scale_, min.y / scale_, (max.x - min.x) / scale_,
                              (max.y - min.y) / scale_};
}

void UiState::SetField(const std::string& name, nlohmann::json value) {
  building_.fields[name] = std::move(value);
}

void UiState::AddTreeNode(nlohmann::json node) {
  building_.tree.push_back(std::move(node));
}

void UiState::AddListItem(const std::string& list, nlohmann::json item) {
  nlohmann::json& l = building_.lists[list];
  if (!l.is_array()) l = nlohmann::json::array();
  l.push_back(std::move(item));
}

std::string UiState::ToJson() const {
  nlohmann::json widgets = nlohmann::json::object();
  for (const auto& [label, r] : published_.widgets) {
    widgets[label] = {{"x", r.x}, {"y", r.y}, {"w", r.w}, {"h", r.h}};
  }
  const nlohmann::json j = {
      {"frame", frame_},
      {"screen", published_.screen},
      {"device_pixel_ratio", scale_},
      {"fields", published_.fields},
      {"tree", published_.tree},
      {"lists", published_.lists},
      {"widgets", std::move(widgets)},
      {"mouse", published_.mouse},
      {"text_input_active", published_.text_input_active},
  };
  // Typed text is the user's: never let odd bytes abort the dump (exceptions are off in wasm).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

UiState& CurrentUiState() {
  static UiState state;
  return state;
}

}  // namespace mambo::web

extern "C" EMSCRIPTEN_KEEPALIVE const char* ui_state_json() {
  static std::string text;
  text = mambo::web::CurrentUiState().ToJson();
  return text.c_str();
}
