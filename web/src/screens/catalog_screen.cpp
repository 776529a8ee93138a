#include "screens/catalog_screen.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <string>

#include "mambo/catalog.h"
#include "mambo/validation.h"
#include "ui_state.h"

namespace mambo::web {
namespace {

const ImVec4 kErrorColor(0.96f, 0.42f, 0.40f, 1.0f);
const ImVec4 kValidColor(0.34f, 0.83f, 0.39f, 1.0f);

std::string Str(std::string_view s) {
  return std::string(s);
}

void TextView(std::string_view s) {
  ImGui::TextUnformatted(s.data(), s.data() + s.size());
}

size_t EventCount(const EventCategory& category) {
  size_t n = 0;
  for (const EventGroup& group : category.groups) n += group.events.size();
  return n;
}

}  // namespace

void CatalogScreen::Draw(UiState& ui) {
  DrawUrlCheck(ui);
  ImGui::Spacing();
  ImGui::Separator();
  ImGui::Spacing();
  DrawCatalogTree(ui);
}

void CatalogScreen::DrawUrlCheck(UiState& ui) {
  ImGui::TextUnformatted("Endpoint URL");
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 40.0f);
  ImGui::InputTextWithHint("##url", "https://example.com/webhooks", &url);
  ui.RecordLastItem("url");
  // Validate on every change with the same function webhookd uses, so the message shown here is
  // the one its 422 response would carry.
  if (ImGui::IsItemEdited() || !url_checked) {
    url_error = UrlError(url);
    url_checked = true;
  }

  if (url.empty()) {
    ImGui::TextDisabled(
        "Where mambo sends events: an https:// address reachable from the internet.");
  } else if (url_error) {
    ImGui::PushStyleColor(ImGuiCol_Text, kErrorColor);
    ImGui::TextWrapped("%s", url_error->c_str());
    ImGui::PopStyleColor();
  } else {
    ImGui::TextColored(kValidColor, "valid");
  }
  ui.RecordLastItem("url_message");

  ui.SetField("url", url);
  ui.SetField("url_error", url_error ? nlohmann::json(*url_error) : nlohmann::json(nullptr));
  ui.SetField("url_valid", !url.empty() && !url_error);
}

void CatalogScreen::DrawCatalogTree(UiState& ui) {
  const auto& categories = EventCategories();
  ImGui::Text("Events  (%d types in %d categories)", static_cast<int>(EventCatalog().size()),
              static_cast<int>(categories.size()));
  ImGui::TextDisabled("Hover an event for what it means.");

  std::string hovered_event;
  ImGui::BeginChild("catalog_tree", ImVec2(0, 0), ImGuiChildFlags_Border);
  for (const EventCategory& category : categories) {
    const std::string category_key = Str(category.name);
    const std::string category_label =
        category_key + "  (" + std::to_string(EventCount(category)) + ")###" + category_key;
    const bool category_open =
        ImGui::TreeNodeEx(category_label.c_str(), ImGuiTreeNodeFlags_SpanAvailWidth);
    ui.RecordLastItem("category:" + category_key);
    ui.AddTreeNode({{"kind", "category"}, {"name", category_key}, {"open", category_open}});
    if (!category_open) continue;

    for (const EventGroup& group : category.groups) {
      const std::string group_key = category_key + "/" + Str(group.name);
      const bool group_open = ImGui::TreeNodeEx(
          group_key.c_str(), ImGuiTreeNodeFlags_SpanAvailWidth, "%s", Str(group.name).c_str());
      ui.RecordLastItem("group:" + group_key);
      ui.AddTreeNode({{"kind", "group"},
                      {"name", Str(group.name)},
                      {"category", category_key},
                      {"open", group_open}});
      if (!group_open) continue;

      for (const EventType* event : group.events) {
        const std::string id = Str(event->id);
        ImGui::TreeNodeEx(id.c_str(),
                          ImGuiTreeNodeFlags_Leaf | ImGuiTreeNodeFlags_Bullet |
                              ImGuiTreeNodeFlags_NoTreePushOnOpen |
                              ImGuiTreeNodeFlags_SpanAvailWidth,
                          "%s", Str(event->name).c_str());
        ui.RecordLastItem("event:" + id);
        ui.AddTreeNode({{"kind", "event"},
                        {"id", id},
                        {"name", Str(event->name)},
                        {"category", category_key},
                        {"group", Str(group.name)}});
        if (ImGui::IsItemHovered()) {
          hovered_event = id;
          ImGui::BeginTooltip();
          ImGui::PushTextWrapPos(ImGui::GetFontSize() * 32.0f);
          TextView(event->id);
          ImGui::Separator();
          TextView(event->purpose);
          ImGui::PopTextWrapPos();
          ImGui::EndTooltip();
        }
        ImGui::SameLine();
        ImGui::TextDisabled("%s", id.c_str());
      }
      ImGui::TreePop();
    }
    ImGui::TreePop();
  }
  ImGui::EndChild();

  ui.SetField("tooltip_event",
              hovered_event.empty() ? nlohmann::json(nullptr) : nlohmann::json(hovered_event));
}

}  // namespace mambo::web
