#include "screens/events_screen.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <unordered_set>

#include "api_client.h"
#include "browser.h"
#include "mambo/catalog.h"
#include "mambo/text.h"
#include "mambo/validation.h"
#include "screen_context.h"
#include "ui_state.h"
#include "widgets.h"

namespace mambo::web {
namespace {

constexpr const char* kRangeExample = "2026-11-29T00:00:00Z";

nlohmann::json OptInt(const std::optional<int>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json OptTime(const std::optional<int64_t>& t) {
  return t ? nlohmann::json(FormatTimestamp(*t)) : nlohmann::json(nullptr);
}

// Pasted ids and times often carry a space or a newline at either end.
std::string Trimmed(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// One end of the time range as typed: empty is "no bound"; anything else must be RFC 3339.
struct Bound {
  bool valid = true;
  std::optional<int64_t> at;
};

Bound ParseBound(const std::string& text) {
  const std::string t = Trimmed(text);
  if (t.empty()) return {};
  const std::optional<int64_t> at = ParseTimestamp(t);
  return {at.has_value(), at};
}

// The type filter's options: index 0 is every type, then the catalog in document order, then
// webhookd's operational notices (webhook.failing, ...), which are in the log too.
int TypeCount() {
  return static_cast<int>(EventCatalog().size() + NoticeTypes().size());
}

std::string TypeAt(int index) {
  const std::vector<EventType>& catalog = EventCatalog();
  const auto n = static_cast<int>(catalog.size());
  if (index <= 0 || index > TypeCount()) return "";
  return std::string(index <= n ? catalog[index - 1].id : NoticeTypes()[index - 1 - n].id);
}

// Pending, in flight and failed (a retry is scheduled) deliveries still change by themselves.
bool Settled(DeliveryStatus s) {
  return s == DeliveryStatus::kSucceeded || s == DeliveryStatus::kExhausted ||
         s == DeliveryStatus::kCancelled;
}

EventDetail ParseEventDetail(const Json& j) {
  EventDetail e;
  e.id = JStr(j, "id");
  e.type = JStr(j, "type");
  e.at = JTime(j, "timestamp");
  if (j.is_object() && j.contains("data")) e.data = j["data"];
  e.data_text = DumpJson(e.data, 2);
  e.data_lines = static_cast<int>(std::count(e.data_text.begin(), e.data_text.end(), '\n')) + 1;
  if (j.is_object() && j.contains("deliveries") && j["deliveries"].is_array()) {
    for (const Json& d : j["deliveries"]) e.deliveries.push_back(ParseDelivery(d));
  }
  return e;
}

}  // namespace

std::string EventsScreen::Title() const {
  return open_id.empty() ? kTitle : "Event " + open_id;
}

void EventsScreen::Open(ScreenContext& ctx, const std::string& event_id, bool fresh) {
  if (fresh || (!loaded && !loading)) ReloadList(ctx);
  if (event_id != open_id || fresh || !detail) {
    open_id = event_id;
    LoadDetail(ctx);
  }
}

std::string EventsScreen::ListQuery() const {
  std::string q = "/api/v1/events?limit=" + std::to_string(kPageSize);
  const std::string type = TypeAt(type_filter);
  if (!type.empty()) q += "&type=" + ApiClient::Encode(type);
  if (since) q += "&since=" + ApiClient::Encode(FormatTimestamp(*since));
  if (until) q += "&until=" + ApiClient::Encode(FormatTimestamp(*until));
  return q;
}

void EventsScreen::ReloadList(ScreenContext& ctx) {
  ++generation;
  events.clear();
  next_cursor.reset();
  loaded = false;
  error.clear();
  LoadPage(ctx, "");
}

void EventsScreen::LoadPage(ScreenContext& ctx, const std::string& cursor) {
  loading = true;
  std::string path = ListQuery();
  if (!cursor.empty()) path += "&cursor=" + ApiClient::Encode(cursor);
  const uint64_t gen = generation;
  ctx.api->Get(path, [this, gen](const ApiResponse& r) {
    if (gen != generation) return;
    loading = false;
    if (!r.ok()) {
      error = "Could not load events: " + r.error;
      return;
    }
    error.clear();
    loaded = true;
    if (r.body.contains("data") && r.body["data"].is_array()) {
      // Keyset pages do not overlap, but a row must never show twice whatever the server does.
      std::unordered_set<std::string> have;
      for (const EventRow& e : events) have.insert(e.id);
      for (const Json& j : r.body["data"]) {
        EventRow e{JStr(j, "id"), JStr(j, "type"), JTime(j, "timestamp")};
        if (have.insert(e.id).second) events.push_back(std::move(e));
      }
    }
    next_cursor = JOptStr(r.body, "next_cursor");
  });
}

void EventsScreen::LoadDetail(ScreenContext& ctx) {
  const uint64_t gen = ++detail_generation;
  detail.reset();
  detail_missing.clear();
  detail_error.clear();
  detail_loading = !open_id.empty();
  if (open_id.empty()) return;
  const std::string want = open_id;
  ScreenContext* c = &ctx;
  ctx.api->Get("/api/v1/events/" + want, [this, gen, want, c](const ApiResponse& r) {
    if (gen != detail_generation) return;
    detail_loading = false;
    detail_loaded_ms = c->now_ms;
    if (r.status == 404) {
      // A mistyped or foreign id is an answer, not a failure: say so where the event would be.
      detail.reset();
      detail_missing = "No event " + want;
      return;
    }
    if (!r.ok()) {
      detail_error = "Could not load event " + want + ": " + r.error;
      return;
    }
    detail_error.clear();
    detail = ParseEventDetail(r.body);
  });
}

bool EventsScreen::DetailSettled() const {
  if (!detail) return true;
  for (const Delivery& d : detail->deliveries) {
    if (!Settled(d.status)) return false;
  }
  return true;
}

// An opened event's deliveries are usually still on their way when it is opened (it was just
// ingested): re-read it until every one has settled, keeping what is shown meanwhile.
void EventsScreen::Tick(ScreenContext& ctx) {
  if (open_id.empty() || !detail || detail_loading || DetailSettled()) return;
  if (ctx.now_ms - detail_loaded_ms < kLiveRefreshMs) return;
  detail_loading = true;
  const uint64_t gen = detail_generation;
  ScreenContext* c = &ctx;
  ctx.api->Get("/api/v1/events/" + open_id, [this, gen, c](const ApiResponse& r) {
    if (gen != detail_generation) return;
    detail_loading = false;
    detail_loaded_ms = c->now_ms;
    if (r.ok()) detail = ParseEventDetail(r.body);
  });
}

void EventsScreen::ApplyRange(ScreenContext& ctx) {
  const Bound s = ParseBound(since_text), u = ParseBound(until_text);
  if (!s.valid || !u.valid) return;
  since = s.at;
  until = u.at;
  ReloadList(ctx);
}

void EventsScreen::Search(ScreenContext& ctx) {
  const std::string id = Trimmed(search_text);
  if (id.empty()) return;
  if (!IsValidId(id)) {
    search_error = "An event id is 1 to 64 letters, digits, '_' or '-'.";
    return;
  }
  search_error.clear();
  ctx.go("/events/" + id);
}

void EventsScreen::Draw(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  DrawToolbar(ctx);
  ImGui::Spacing();
  const float avail = ImGui::GetContentRegionAvail().x;
  ImGui::BeginChild("events_pane", ImVec2(avail * 0.46f, 0), ImGuiChildFlags_None);
  DrawList(ctx);
  ImGui::EndChild();
  ImGui::SameLine();
  ImGui::BeginChild("event_pane", ImVec2(0, 0), ImGuiChildFlags_Border);
  DrawDetail(ctx);
  ImGui::EndChild();

  ui.SetField("count", events.size());
  ui.SetField("more", next_cursor.has_value());
  ui.SetField("loading", loading);
  ui.SetField("loaded", loaded);
  ui.SetField("list_error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error));
  ui.SetField("type_filter", TypeAt(type_filter));
  ui.SetField("since", OptTime(since));
  ui.SetField("until", OptTime(until));
  ui.SetField("since_input", since_text);
  ui.SetField("until_input", until_text);
  ui.SetField("search", search_text);
  ui.SetField("search_error",
              search_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(search_error));
}

void EventsScreen::DrawToolbar(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const float em = ImGui::GetFontSize();

  // Find an event by id: the way in from a log line, a receiver's request or a support ticket.
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Find event");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(em * 18.0f);
  const bool enter = ImGui::InputTextWithHint("##event_search", "evt_...", &search_text,
                                              ImGuiInputTextFlags_EnterReturnsTrue);
  ui.RecordLastItem("event_search");
  if (ImGui::IsItemEdited()) search_error.clear();
  ImGui::SameLine();
  if (NamedButton(ui, "event_search_open", "Open", !Trimmed(search_text).empty()) || enter) {
    Search(ctx);
  }
  if (!search_error.empty()) {
    ImGui::SameLine();
    ImGui::TextColored(kErrorColor, "%s", search_error.c_str());
    ui.RecordLastItem("search_error");
  }

  // Filters: the type applies at once; the time range when the user says it is complete.
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Type");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(em * 14.0f);
  const std::string current = TypeAt(type_filter);
  // Tall enough for the whole catalog: no scrolling inside the list to reach a type.
  if (ImGui::BeginCombo("##type_filter", current.empty() ? "All types" : current.c_str(),
                        ImGuiComboFlags_HeightLargest)) {
    const int n = TypeCount();
    for (int i = 0; i <= n; ++i) {
      const std::string type = TypeAt(i);
      if (ImGui::Selectable(i == 0 ? "All types" : type.c_str(), i == type_filter)) {
        type_filter = i;
        ReloadList(ctx);
      }
      ui.RecordLastItem("type_option:" + (i == 0 ? std::string("all") : type));
    }
    ImGui::EndCombo();
  }
  ui.RecordLastItem("type_filter");

  const Bound s = ParseBound(since_text), u = ParseBound(until_text);
  ImGui::SameLine();
  ImGui::TextUnformatted("Since");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(em * 13.0f);
  bool apply = ImGui::InputTextWithHint("##since", kRangeExample, &since_text,
                                        ImGuiInputTextFlags_EnterReturnsTrue);
  ui.RecordLastItem("since");
  ImGui::SameLine();
  ImGui::TextUnformatted("Until");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(em * 13.0f);
  apply |= ImGui::InputTextWithHint("##until", kRangeExample, &until_text,
                                    ImGuiInputTextFlags_EnterReturnsTrue);
  ui.RecordLastItem("until");
  ImGui::SameLine();
  const bool valid = s.valid && u.valid;
  const bool changed = s.at != since || u.at != until;
  apply |= NamedButton(ui, "apply_range", "Apply", valid && changed);
  if (apply && valid && changed) ApplyRange(ctx);
  ImGui::SameLine();
  if (NamedButton(ui, "refresh", "Refresh", !loading)) {
    ReloadList(ctx);
    if (!open_id.empty()) LoadDetail(ctx);
  }

  // Say which end is wrong, in the words the API would use.
  std::string range_error;
  if (!s.valid) range_error = std::string("since must be an RFC 3339 time, e.g. ") + kRangeExample;
  if (!u.valid) {
    if (!range_error.empty()) range_error += "; ";
    range_error += std::string("until must be an RFC 3339 time, e.g. ") + kRangeExample;
  }
  if (range_error.empty() && s.at && u.at && *s.at >= *u.at) {
    range_error = "until must be later than since: no event can match.";
  }
  if (!range_error.empty()) {
    ErrorText(range_error);
    ui.RecordLastItem("range_error");
  }
  ui.SetField("range_error",
              range_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(range_error));
}

void EventsScreen::DrawList(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (loading) {
    Spinner();
  } else {
    ImGui::TextDisabled("%d event%s%s", static_cast<int>(events.size()),
                        events.size() == 1 ? "" : "s", next_cursor ? " (more to load)" : "");
  }
  if (!error.empty()) ErrorText(error);
  const bool filtered = type_filter != 0 || since || until;
  if (loaded && events.empty()) {
    ImGui::TextDisabled(filtered ? "No event matches these filters."
                                 : "No events yet. Events your services post appear here.");
  }

  // The table leaves room below it for "Load more".
  const float button_h = next_cursor ? ImGui::GetFrameHeightWithSpacing() : 0.0f;
  constexpr ImGuiTableFlags kTable = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                     ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchProp;
  if (ImGui::BeginTable("events", 3, kTable, ImVec2(0, -button_h))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("Event", ImGuiTableColumnFlags_WidthStretch, 2.0f);
    ImGui::TableSetupColumn("Type", ImGuiTableColumnFlags_WidthStretch, 1.8f);
    ImGui::TableSetupColumn("Ingested", ImGuiTableColumnFlags_WidthStretch, 1.6f);
    ImGui::TableHeadersRow();
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(events.size()));
    while (clipper.Step()) {
      for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
        const EventRow& e = events[i];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::PushID(i);
        if (ImGui::Selectable(e.id.c_str(), e.id == open_id, ImGuiSelectableFlags_SpanAllColumns)) {
          ctx.go("/events/" + e.id);
        }
        ImGui::PopID();
        ui.RecordLastItem("event:" + e.id);
        const bool row_visible = ImGui::IsItemVisible();
        ImGui::TableNextColumn();
        TextView(e.type);
        ImGui::TableNextColumn();
        TextView(ShortTime(e.at));
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", RelativeTime(ctx.now_ms, e.at).c_str());
        // The clipper's first step lays out row 0 to measure it even when it is scrolled away.
        if (!row_visible) continue;
        ui.AddListItem("events",
                       {{"id", e.id}, {"type", e.type}, {"timestamp", FormatTimestamp(e.at)}});
      }
    }
    ImGui::EndTable();
  }
  if (next_cursor && NamedButton(ui, "load_more", "Load more", !loading)) {
    LoadPage(ctx, *next_cursor);
  }
}

void EventsScreen::DrawDetail(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  ui.SetField("open_event", open_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(open_id));
  ui.SetField("detail_loading", detail_loading);
  ui.SetField("event_missing",
              detail_missing.empty() ? nlohmann::json(nullptr) : nlohmann::json(detail_missing));
  ui.SetField("event_error",
              detail_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(detail_error));
  if (open_id.empty()) {
    ImGui::TextDisabled("Select an event, or find one by id, to see its data and deliveries.");
    return;
  }
  if (!detail_missing.empty()) {
    TextView(detail_missing);
    ui.RecordLastItem("event_missing");
    ImGui::TextDisabled("Check the id: this team has no event with it.");
    return;
  }
  if (!detail) {
    if (!detail_error.empty()) {
      ErrorText(detail_error);
      ui.RecordLastItem("event_error");
      if (NamedButton(ui, "retry_event", "Retry")) LoadDetail(ctx);
    } else {
      ImGui::TextDisabled("Loading event %s", open_id.c_str());
      ImGui::SameLine();
      Spinner();
    }
    return;
  }
  const EventDetail& e = *detail;
  ImGui::Text("Event %s", e.id.c_str());
  ui.RecordLastItem("event_title");
  if (detail_loading) {
    ImGui::SameLine();
    Spinner();
  }
  ImGui::TextDisabled("Type");
  ImGui::SameLine();
  TextView(e.type);
  ImGui::TextDisabled("Ingested");
  ImGui::SameLine();
  ImGui::Text("%s (%s)", FormatTimestamp(e.at).c_str(), RelativeTime(ctx.now_ms, e.at).c_str());
  ui.SetField("event", {{"id", e.id},
                        {"type", e.type},
                        {"timestamp", FormatTimestamp(e.at)},
                        {"data", e.data},
                        {"deliveries", e.deliveries.size()}});

  ImGui::Spacing();
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Data");
  ImGui::SameLine();
  if (NamedButton(ui, "copy_data", "Copy")) {
    browser::CopyToClipboard(e.data_text);
    ctx.notice("Event data copied to the clipboard");
  }
  // As tall as the data, up to about half the pane: the deliveries stay in view below it.
  const float fit = static_cast<float>(e.data_lines + 1) * ImGui::GetTextLineHeight() +
                    ImGui::GetStyle().FramePadding.y * 2.0f;
  const float height = std::min(fit, ImGui::GetContentRegionAvail().y * 0.55f);
  std::string shown = e.data_text;  // read-only: ImGui gets a copy it may not change
  ImGui::InputTextMultiline("##event_data", &shown, ImVec2(-1, height),
                            ImGuiInputTextFlags_ReadOnly);
  ui.RecordLastItem("event_data");
  DrawDeliveries(ctx);
}

void EventsScreen::DrawDeliveries(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const EventDetail& e = *detail;
  ImGui::Spacing();
  ImGui::Text("Deliveries (%d)", static_cast<int>(e.deliveries.size()));
  if (e.deliveries.empty()) {
    ImGui::TextDisabled("No webhook was subscribed to %s when this event came in.", e.type.c_str());
    return;
  }
  constexpr ImGuiTableFlags kTable = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                     ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchProp;
  if (!ImGui::BeginTable("event_deliveries", 4, kTable, ImVec2(0, 0))) return;
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableSetupColumn("Webhook", ImGuiTableColumnFlags_WidthStretch, 2.0f);
  ImGui::TableSetupColumn("Status", ImGuiTableColumnFlags_WidthStretch, 1.6f);
  ImGui::TableSetupColumn("Tries", ImGuiTableColumnFlags_WidthStretch, 0.6f);
  ImGui::TableSetupColumn("Updated", ImGuiTableColumnFlags_WidthStretch, 1.0f);
  ImGui::TableHeadersRow();
  for (size_t i = 0; i < e.deliveries.size(); ++i) {
    const Delivery& d = e.deliveries[i];
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    ImGui::PushID(static_cast<int>(i));
    // The whole row opens the delivery on its webhook's page, where its attempts are.
    const bool open =
        ImGui::Selectable(d.webhook_id.c_str(), false, ImGuiSelectableFlags_SpanAllColumns);
    ImGui::PopID();
    ui.RecordLastItem("event_delivery:" + d.id);
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("Open delivery %s", d.id.c_str());
    ImGui::TableNextColumn();
    ImGui::TextColored(StatusColor(d.status), "%s", DeliveryResultText(d, ctx.now_ms).c_str());
    ImGui::TableNextColumn();
    ImGui::Text("%d", d.attempt_count);
    ImGui::TableNextColumn();
    TextView(RelativeTime(ctx.now_ms, d.updated_at));
    ui.AddListItem("event_deliveries", {{"id", d.id},
                                        {"webhook_id", d.webhook_id},
                                        {"status", ToString(d.status)},
                                        {"attempts", d.attempt_count},
                                        {"http_status", OptInt(d.last_http_status)},
                                        {"result", DeliveryResultText(d, ctx.now_ms)}});
    if (open) ctx.go("/webhooks/" + d.webhook_id + "/deliveries/" + d.id);
  }
  ImGui::EndTable();
}

}  // namespace mambo::web
