#include "screens/catalog_screen.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>

#include "browser.h"
#include "mambo/catalog.h"
#include "mambo/event_schemas.h"
#include "mambo/models.h"
#include "mambo/text.h"
#include "mambo/validation.h"
#include "ui_state.h"
#include "widgets.h"

namespace mambo::web {
namespace {

// The delivery body shown in "try it" needs an event id, a time and a team: these stand in for
// what webhookd fills in at ingest (the id's shape is the one crypto::NewId makes).
constexpr std::string_view kExampleEventId = "evt_01JNGK3W8B2C5D7E9F0H1J2K3M";
constexpr std::string_view kExampleTeamId = "acme";
constexpr std::string_view kExampleTime = "2026-03-01T09:30:00Z";

std::string Str(std::string_view s) {
  return std::string(s);
}

size_t EventCount(const EventCategory& category) {
  size_t n = 0;
  for (const EventGroup& group : category.groups) n += group.events.size();
  return n;
}

// Finds where nlohmann's parser stops on text ParseJson refused, in its own words ("parse error
// at line 3, column 5: syntax error while parsing object key - unexpected '}'; expected string
// literal"): ParseJson only says "no". The SAX interface reports the error as a value, so this
// works with exceptions off.
class SyntaxErrorFinder : public nlohmann::json_sax<Json> {
 public:
  std::string message;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    message = e.what();
    // Drop the "[json.exception.parse_error.101] " prefix: it means nothing to a user.
    const size_t end = message.find("] ");
    if (message.rfind("[json.", 0) == 0 && end != std::string::npos) message.erase(0, end + 2);
    return false;
  }
};

std::string JsonSyntaxError(std::string_view text) {
  SyntaxErrorFinder finder;
  Json::sax_parse(text.begin(), text.end(), &finder);
  return finder.message;
}

bool IsBlank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Compact JSON text (as DumpJson writes it: no whitespace outside strings) indented by two
// spaces, keeping its key order. nlohmann would sort the keys, and an ordered_json for this one
// view would cost the wasm a second copy of the library.
std::string IndentCompactJson(std::string_view compact) {
  std::string out;
  out.reserve(compact.size() * 2);
  int depth = 0;
  bool in_string = false;
  const auto new_line = [&] { out += '\n' + std::string(2 * static_cast<size_t>(depth), ' '); };
  for (size_t i = 0; i < compact.size(); ++i) {
    const char c = compact[i];
    out += c;
    if (in_string) {
      if (c == '\\' && i + 1 < compact.size()) {
        out += compact[++i];
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      const char next = i + 1 < compact.size() ? compact[i + 1] : '\0';
      if (next == '}' || next == ']') {
        out += compact[++i];  // {} and [] stay on one line
      } else {
        ++depth;
        new_line();
      }
    } else if (c == ',') {
      new_line();
    } else if (c == ':') {
      out += ' ';
    }
    if (!in_string && i + 1 < compact.size() && (compact[i + 1] == '}' || compact[i + 1] == ']')) {
      --depth;
      new_line();
    }
  }
  return out;
}

// The schema indented, its top-level keywords in the order schemas are written: what the data is
// first, the examples and the bundled "$defs" last. nlohmann sorts keys, which would open the
// view with a page of shared definitions.
std::string SchemaText(const Json& schema) {
  static constexpr std::string_view kFirst[] = {
      "$schema", "$id",        "title",    "description",
      "type",    "properties", "required", "additionalProperties"};
  static constexpr std::string_view kLast[] = {"examples", "$defs"};
  const auto listed = [](std::string_view key) {
    return std::find(std::begin(kFirst), std::end(kFirst), key) != std::end(kFirst) ||
           std::find(std::begin(kLast), std::end(kLast), key) != std::end(kLast);
  };
  std::string compact = "{";
  const auto add = [&](std::string_view key, const Json& value) {
    if (compact.size() > 1) compact += ',';
    compact += DumpJson(Json(key)) + ':' + DumpJson(value);
  };
  const auto add_if_present = [&](std::string_view key) {
    if (const auto it = schema.find(key); it != schema.end()) add(key, *it);
  };
  for (std::string_view key : kFirst) add_if_present(key);
  for (const auto& [key, value] : schema.items()) {
    if (!listed(key)) add(key, value);
  }
  for (std::string_view key : kLast) add_if_present(key);
  compact += '}';
  return IndentCompactJson(compact);
}

// The body webhookd would POST for `data`: DeliveryBody over the data as ingest stores it
// (DumpJson), indented for reading.
std::string PrettyDeliveryBody(const std::string& type, const Json& data) {
  Event event;
  event.id = Str(kExampleEventId);
  event.type = type;
  event.team_id = Str(kExampleTeamId);
  event.timestamp = ParseTimestamp(kExampleTime).value_or(0);
  return IndentCompactJson(DeliveryBody(event, DumpJson(data)));
}

// A read-only multiline view of `text`, at least `min_lines` high, filling the height left.
void ReadOnlyText(const char* id, std::string& text, float min_lines) {
  const float h =
      std::max(ImGui::GetContentRegionAvail().y, ImGui::GetTextLineHeight() * min_lines);
  ImGui::InputTextMultiline(id, &text, ImVec2(-1, h), ImGuiInputTextFlags_ReadOnly);
}

}  // namespace

void CatalogScreen::Select(std::string_view type) {
  if (FindEventSchema(type) == nullptr) {
    unknown_type_ = Str(type);
    selected_.clear();
    return;
  }
  unknown_type_.clear();
  reveal_selected_ = true;
  if (selected_ == type) return;  // keep what the user was trying
  selected_ = Str(type);
  const EventSchema* s = FindEventSchema(type);
  example_text_ = DumpJson(s->example, 2);
  schema_text_ = SchemaText(s->schema);
  copied_.clear();
  ResetTryPayload();
}

void CatalogScreen::SelectFromTree(const std::string& type) {
  Select(type);
  reveal_selected_ = false;  // the user is looking at it
  // The address names the selection, so it can be shared or bookmarked; replaced, not pushed:
  // Back leaves the catalog instead of stepping through every event clicked.
  browser::ReplaceHash("/catalog/" + type);
}

void CatalogScreen::ResetTryPayload() {
  try_payload_ = example_text_;
  ++try_generation_;
  CheckTryPayload();
}

void CatalogScreen::CheckTryPayload() {
  try_errors_.clear();
  envelope_text_.clear();
  if (IsBlank(try_payload_)) {
    try_errors_.push_back({"data", "Is empty: type the event's data, a JSON object"});
    return;
  }
  std::string why;
  const std::optional<Json> data = ParseJson(try_payload_, &why);
  if (!data) {
    const std::string where = why.empty() ? JsonSyntaxError(try_payload_) : why;
    try_errors_.push_back({"data", where.empty() ? "Not valid JSON" : "Not valid JSON: " + where});
    return;
  }
  // Ingest's checks of "data" in its words (ParseEventInput): an object, then the type's schema.
  if (!data->is_object()) {
    try_errors_.push_back({"data", "Must be a JSON object"});
    return;
  }
  try_errors_ = EventDataErrors(selected_, *data);
  if (try_errors_.empty()) envelope_text_ = PrettyDeliveryBody(selected_, *data);
}

void CatalogScreen::Draw(UiState& ui) {
  DrawUrlCheck(ui);
  ImGui::Spacing();
  ImGui::Separator();
  ImGui::Spacing();

  // Tree and detail side by side when the detail still gets room for a line of indented JSON;
  // stacked on narrow windows, the tree shortened while an event is selected.
  const float font = ImGui::GetFontSize();
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const bool side_by_side = avail.x >= font * 62.0f;
  const bool has_detail = !selected_.empty() || !unknown_type_.empty();
  if (side_by_side) {
    const float tree_w = std::max(font * 24.0f, avail.x * 0.36f);
    ImGui::BeginChild("catalog_left", ImVec2(tree_w, 0));
    DrawCatalogTree(ui, 0.0f);
    ImGui::EndChild();
    ImGui::SameLine();
  } else {
    DrawCatalogTree(ui, has_detail ? std::max(font * 10.0f, avail.y * 0.3f) : 0.0f);
  }
  if (side_by_side || has_detail) {
    ImGui::BeginChild("event_detail", ImVec2(0, 0), ImGuiChildFlags_Border);
    DrawEventDetail(ui);
    ImGui::EndChild();
    ui.RecordLastItem("event_detail");
  }
  ui.SetField("catalog_layout", side_by_side ? "side_by_side" : "stacked");
  ui.SetField("selected_event",
              selected_.empty() ? nlohmann::json(nullptr) : nlohmann::json(selected_));
  ui.SetField("unknown_event",
              unknown_type_.empty() ? nlohmann::json(nullptr) : nlohmann::json(unknown_type_));
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
    ImGui::TextColored(kOkColor, "valid");
  }
  ui.RecordLastItem("url_message");

  ui.SetField("url", url);
  ui.SetField("url_error", url_error ? nlohmann::json(*url_error) : nlohmann::json(nullptr));
  ui.SetField("url_valid", !url.empty() && !url_error);
}

void CatalogScreen::DrawCatalogTree(UiState& ui, float height) {
  const auto& categories = EventCategories();
  ImGui::Text("Events  (%d types in %d categories)", static_cast<int>(EventCatalog().size()),
              static_cast<int>(categories.size()));
  ImGui::TextDisabled("Hover an event for what it means; click it for its schema.");

  // A deep link opens the tree down to its event (once: the user may close it again).
  const EventType* reveal = reveal_selected_ ? FindEventType(selected_) : nullptr;
  reveal_selected_ = false;
  std::string hovered_event;
  ImGui::BeginChild("catalog_tree", ImVec2(0, height), ImGuiChildFlags_Border);
  for (const EventCategory& category : categories) {
    const std::string category_key = Str(category.name);
    const std::string category_label =
        category_key + "  (" + std::to_string(EventCount(category)) + ")###" + category_key;
    if (reveal && reveal->category == category.name) ImGui::SetNextItemOpen(true);
    const bool category_open =
        ImGui::TreeNodeEx(category_label.c_str(), ImGuiTreeNodeFlags_SpanAvailWidth);
    ui.RecordLastItem("category:" + category_key);
    ui.AddTreeNode({{"kind", "category"}, {"name", category_key}, {"open", category_open}});
    if (!category_open) continue;

    for (const EventGroup& group : category.groups) {
      const std::string group_key = category_key + "/" + Str(group.name);
      if (reveal && reveal->category == category.name && reveal->group == group.name) {
        ImGui::SetNextItemOpen(true);
      }
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
        const bool selected = id == selected_;
        ImGui::TreeNodeEx(id.c_str(),
                          ImGuiTreeNodeFlags_Leaf | ImGuiTreeNodeFlags_Bullet |
                              ImGuiTreeNodeFlags_NoTreePushOnOpen |
                              ImGuiTreeNodeFlags_SpanAvailWidth |
                              (selected ? ImGuiTreeNodeFlags_Selected : 0),
                          "%s", Str(event->name).c_str());
        ui.RecordLastItem("event:" + id);
        ui.AddTreeNode({{"kind", "event"},
                        {"id", id},
                        {"name", Str(event->name)},
                        {"category", category_key},
                        {"group", Str(group.name)},
                        {"selected", selected}});
        if (reveal && reveal->id == event->id) ImGui::SetScrollHereY(0.5f);
        // A click (or Enter on the focused row) selects; the row stays a tree leaf, so the
        // keyboard moves through the tree as before.
        if (!selected && (ImGui::IsItemClicked(ImGuiMouseButton_Left) ||
                          (ImGui::IsItemFocused() && ImGui::IsKeyPressed(ImGuiKey_Enter)))) {
          SelectFromTree(id);
        }
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

void CatalogScreen::DrawEventDetail(UiState& ui) {
  if (!unknown_type_.empty()) {
    ErrorText("There is no event type \"" + unknown_type_ + "\" in the catalog.");
  }
  const EventType* type = FindEventType(selected_);
  const EventSchema* schema = FindEventSchema(selected_);
  if (type == nullptr || schema == nullptr) {
    ImGui::TextDisabled(
        "Select an event for its example, its JSON Schema and a validator to try "
        "payloads with.");
    return;
  }

  ImGui::TextUnformatted(type->name.data(), type->name.data() + type->name.size());
  ImGui::SameLine();
  ImGui::TextColored(kAccentColor, "%s", selected_.c_str());
  ui.RecordLastItem("selected_event");
  ImGui::SameLine();
  ImGui::TextDisabled("schema v%d  \xc2\xb7  %s / %s", schema->version, Str(type->category).c_str(),
                      Str(type->group).c_str());
  ImGui::PushTextWrapPos(0.0f);
  TextView(type->purpose);
  ImGui::PopTextWrapPos();
  ui.SetField("selected_version", schema->version);
  ImGui::Spacing();

  // One tab at a time: the schema alone is taller than the window, and side-by-side JSON would
  // cut its lines on narrow widths.
  std::string tab;
  if (ImGui::BeginTabBar("event_tabs")) {
    const bool example_open = ImGui::BeginTabItem("Example");
    ui.RecordLastItem("tab_example");
    if (example_open) {
      tab = "example";
      DrawTextTab(ui, "example", example_text_);
      ImGui::EndTabItem();
    }
    const bool schema_open = ImGui::BeginTabItem("Schema");
    ui.RecordLastItem("tab_schema");
    if (schema_open) {
      tab = "schema";
      DrawTextTab(ui, "schema", schema_text_);
      ImGui::EndTabItem();
    }
    const bool try_open = ImGui::BeginTabItem("Try it");
    ui.RecordLastItem("tab_try");
    if (try_open) {
      tab = "try";
      DrawTryIt(ui);
      ImGui::EndTabItem();
    }
    ImGui::EndTabBar();
  }
  ui.SetField("detail_tab", tab);
  ui.SetField("copied", copied_.empty() ? nlohmann::json(nullptr) : nlohmann::json(copied_));
}

// The example or the schema: a copy button, a line on what it is, then the text.
void CatalogScreen::DrawTextTab(UiState& ui, const char* what, std::string& text) {
  const std::string name(what);
  if (NamedButton(ui, "copy_" + name, name == "example" ? "Copy example" : "Copy schema")) {
    browser::CopyToClipboard(text);
    copied_ = name;
  }
  ImGui::SameLine();
  if (copied_ == name) {
    ImGui::TextColored(kOkColor, "Copied");
  } else if (name == "example") {
    ImGui::TextDisabled("The event's \"data\", as a receiver gets it.");
  } else {
    ImGui::TextDisabled("JSON Schema 2020-12 of \"data\", as GET /api/v1/event-types/%s serves it.",
                        selected_.c_str());
  }
  ReadOnlyText(("##" + name).c_str(), text, 10.0f);
  ui.RecordLastItem(name + "_text");
  ui.SetField(name + "_text", text);
}

void CatalogScreen::DrawTryIt(UiState& ui) {
  const float line = ImGui::GetTextLineHeight();
  ImGui::PushTextWrapPos(0.0f);
  ImGui::TextDisabled(
      "Edit the data: webhookd's own validator checks it as you type, and lists what its ingest "
      "(POST /api/v1/events) would refuse with 422.");
  ImGui::PopTextWrapPos();
  if (NamedButton(ui, "try_reset", "Reset to example")) ResetTryPayload();
  ImGui::SameLine();
  if (try_errors_.empty()) {
    ImGui::TextColored(kOkColor, "valid");
  } else {
    ImGui::TextColored(kErrorColor, "%d error%s", static_cast<int>(try_errors_.size()),
                       try_errors_.size() == 1 ? "" : "s");
  }
  ui.RecordLastItem("try_status");

  // A new id after a reset: ImGui keeps its own copy of an active field's text, and would put
  // the old text back.
  ImGui::PushID(try_generation_);
  const float editor_h = std::max(line * 12.0f, ImGui::GetContentRegionAvail().y * 0.45f);
  ImGui::InputTextMultiline("##try_payload", &try_payload_, ImVec2(-1, editor_h),
                            ImGuiInputTextFlags_AllowTabInput);
  ImGui::PopID();
  ui.RecordLastItem("try_payload");
  if (ImGui::IsItemEdited()) CheckTryPayload();

  DrawTryErrors();

  ImGui::Spacing();
  if (envelope_text_.empty()) {
    ImGui::TextDisabled("What a receiver gets: shown once the data is valid.");
  } else {
    if (NamedButton(ui, "copy_envelope", "Copy delivery body")) {
      browser::CopyToClipboard(envelope_text_);
      copied_ = "envelope";
    }
    ImGui::SameLine();
    if (copied_ == "envelope") {
      ImGui::TextColored(kOkColor, "Copied");
    } else {
      ImGui::TextDisabled("What a receiver gets (sent on one line; id, time and team vary).");
    }
    ReadOnlyText("##envelope", envelope_text_, 8.0f);
    ui.RecordLastItem("envelope_text");
  }

  nlohmann::json errors = nlohmann::json::array();
  for (const FieldError& e : try_errors_)
    errors.push_back({{"field", e.field}, {"message", e.message}});
  ui.SetField("try_payload", try_payload_);
  ui.SetField("try_valid", try_errors_.empty());
  ui.SetField("try_errors", std::move(errors));
  ui.SetField("envelope_text",
              envelope_text_.empty() ? nlohmann::json(nullptr) : nlohmann::json(envelope_text_));
}

// One line per error: the field's path as the 422 names it, then its message.
void CatalogScreen::DrawTryErrors() {
  for (const FieldError& e : try_errors_) {
    ImGui::Bullet();
    ImGui::TextColored(kErrorColor, "%s", e.field.c_str());
    ImGui::SameLine();
    ImGui::PushTextWrapPos(0.0f);
    TextView(e.message);
    ImGui::PopTextWrapPos();
  }
}

}  // namespace mambo::web
