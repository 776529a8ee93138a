#include "screens/webhook_form_screen.h"

#include <imgui.h>
#include <imgui_internal.h>  // ImGuiItemFlags_MixedValue: the "some selected" checkbox state
#include <imgui_stdlib.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "api_client.h"
#include "mambo/catalog.h"
#include "mambo/text.h"
#include "mambo/validation.h"
#include "screen_context.h"
#include "ui_state.h"
#include "widgets.h"

namespace mambo::web {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool Matches(const EventType& e, const std::string& needle) {
  if (needle.empty()) return true;
  return Lower(e.id).find(needle) != std::string::npos ||
         Lower(e.name).find(needle) != std::string::npos ||
         Lower(e.category).find(needle) != std::string::npos ||
         Lower(e.group).find(needle) != std::string::npos;
}

// A checkbox for a set of events: checked when all are picked, mixed when some are. Clicking
// picks all of them, or clears them when all were picked. Returns true when clicked.
bool SetCheckbox(const char* label, std::set<std::string>& picked,
                 const std::vector<const EventType*>& set) {
  size_t n = 0;
  for (const EventType* e : set) n += picked.count(std::string(e->id));
  bool all = !set.empty() && n == set.size();
  const bool mixed = n > 0 && !all;
  if (mixed) ImGui::PushItemFlag(ImGuiItemFlags_MixedValue, true);
  const bool clicked = ImGui::Checkbox(label, &all);
  if (mixed) ImGui::PopItemFlag();
  if (clicked) {
    for (const EventType* e : set) {
      if (all) {
        picked.insert(std::string(e->id));
      } else {
        picked.erase(std::string(e->id));
      }
    }
  }
  return clicked;
}

}  // namespace

void WebhookFormScreen::OpenCreate() {
  const uint64_t gen = generation + 1;  // answers for an earlier edit are ignored
  *this = WebhookFormScreen{};
  generation = gen;
  mode = Mode::kCreate;
  secret_mode = SecretMode::kGenerate;  // signed deliveries by default: the safe choice
  focus_url = true;
}

std::string WebhookFormScreen::Snapshot() const {
  Json rows = Json::array();
  for (const HeaderRow& h : headers) rows.push_back({h.name, h.value, h.keep_value});
  return DumpJson(Json{{"url", url},
                       {"events", events},
                       {"secret_mode", static_cast<int>(secret_mode)},
                       {"secret", secret},
                       {"active", active},
                       {"description", description},
                       {"rate_limit", rate_limit},
                       {"headers", rows},
                       {"removed", removed_headers}});
}

bool WebhookFormScreen::Dirty() const {
  return pristine && !loading && Snapshot() != *pristine;
}

void WebhookFormScreen::AskToLeave(ScreenContext& ctx, const std::string& to) {
  if (!Dirty()) {
    ctx.go(to);
    return;
  }
  leave_to = to;
  ask_discard = true;
  open_discard = true;
}

void WebhookFormScreen::Leave(ScreenContext& ctx, const std::string& to) {
  pristine = Snapshot();  // saved (or given up on purpose): nothing is lost by leaving
  ask_discard = false;
  ctx.go(to);
}

// Escape, Cancel, a tab or the browser's Back with unsaved changes: the draft is thrown away
// only when the user says so.
void WebhookFormScreen::DrawDiscardPrompt(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (open_discard) ImGui::OpenPopup("Discard changes?");
  open_discard = false;
  ImGui::SetNextWindowPos(ImGui::GetMainViewport()->GetCenter(), ImGuiCond_Appearing,
                          ImVec2(0.5f, 0.5f));
  if (!ImGui::BeginPopupModal("Discard changes?", nullptr, ImGuiWindowFlags_AlwaysAutoResize)) {
    ask_discard = false;
    return;
  }
  ui.SetField("modal", "discard");
  ImGui::TextUnformatted(mode == Mode::kCreate ? "This webhook has not been created yet."
                                               : "Your changes to this webhook are not saved.");
  ImGui::TextDisabled("Leaving throws them away.");
  ImGui::Spacing();
  if (NamedButton(ui, "keep_editing", "Keep editing") || ImGui::IsKeyPressed(ImGuiKey_Escape)) {
    ask_discard = false;
    ImGui::CloseCurrentPopup();
  }
  ImGui::SameLine();
  if (NamedButton(ui, "discard_changes", "Discard changes")) {
    ImGui::CloseCurrentPopup();
    Leave(ctx, leave_to);
  }
  ImGui::EndPopup();
}

void WebhookFormScreen::OpenEdit(ScreenContext& ctx, const std::string& webhook_id) {
  const uint64_t gen = generation + 1;
  *this = WebhookFormScreen{};
  generation = gen;
  mode = Mode::kEdit;
  id = webhook_id;
  secret_mode = SecretMode::kKeep;
  loading = true;
  ctx.api->Get("/api/v1/webhooks/" + webhook_id, [this, gen](const ApiResponse& r) {
    if (gen != generation) return;
    loading = false;
    if (!r.ok()) {
      error = "Could not load the webhook: " + r.error;
      return;
    }
    original = ParseWebhook(r.body);
    url = original->url;
    events = std::set<std::string>(original->events.begin(), original->events.end());
    active = original->active;
    description = original->description.value_or("");
    rate_limit = original->rate_limit_per_second ? std::to_string(*original->rate_limit_per_second)
                                                 : std::string();
    for (const auto& h : original->headers) {
      headers.push_back(HeaderRow{h.first, "", /*stored=*/true, /*keep_value=*/true});
    }
    secret_mode = SecretMode::kKeep;
    focus_url = true;
  });
}

void WebhookFormScreen::FieldMessage(UiState& ui, const std::string& field,
                                     const std::optional<std::string>& local) {
  std::optional<std::string> message = local;
  auto it = server_errors.find(field);
  if (!message && it != server_errors.end()) message = it->second;
  if (message) {
    ErrorText(*message);
  } else if (field == "url") {
    ImGui::TextColored(kOkColor, "valid");  // a line either way: fields below do not jump
  }
  ui.SetField(field + "_error", message ? nlohmann::json(*message) : nlohmann::json(nullptr));
}

void WebhookFormScreen::Draw(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  ui.SetField("mode", mode == Mode::kCreate ? "create" : "edit");
  ui.SetField("loading", loading);
  ui.SetField("saving", saving);
  if (loading) {
    ImGui::TextDisabled("Loading webhook");
    ImGui::SameLine();
    Spinner();
    return;
  }
  if (mode == Mode::kEdit && !original) {
    ErrorText(error);
    if (NamedButton(ui, "back", "Back to webhooks")) ctx.go("/webhooks");
    return;
  }

  if (!pristine) pristine = Snapshot();  // the form as it opened: what "changed" is against
  ui.SetField("dirty", Dirty());
  DrawDiscardPrompt(ctx);

  const float label_w = ImGui::GetFontSize() * 8.0f;
  const float field_w = ImGui::GetFontSize() * 38.0f;
  ImGui::BeginChild("form", ImVec2(0, -ImGui::GetFrameHeightWithSpacing() * 1.6f));

  // URL
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Endpoint URL");
  ImGui::SameLine(label_w);
  if (focus_url) {
    ImGui::SetKeyboardFocusHere();
    focus_url = false;
  }
  ImGui::SetNextItemWidth(field_w);
  if (ImGui::InputTextWithHint("##url", "https://example.com/webhooks", &url)) {
    server_errors.erase("url");
  }
  ui.RecordLastItem("url");
  const std::optional<std::string> url_error = UrlError(url);
  ImGui::Indent(label_w);
  if (url.empty() && !tried_save) {
    ImGui::TextDisabled(
        "Where mambo sends events: an https:// address reachable from the internet.");
    ui.SetField("url_error", nullptr);
  } else {
    FieldMessage(ui, "url", url_error);
  }
  ui.RecordLastItem("url_message");
  ImGui::Unindent(label_w);
  ui.SetField("url", url);
  ui.SetField("url_valid", !url_error.has_value());
  ImGui::Spacing();

  DrawEvents(ctx);
  ImGui::Spacing();
  DrawSecret(ctx);
  ImGui::Spacing();

  // Status
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Status");
  ImGui::SameLine(label_w);
  ImGui::Checkbox(
      active ? "Active: events are sent###active" : "Inactive: nothing is sent###active", &active);
  ui.RecordLastItem("active");
  ui.SetField("active", active);
  if (original && original->disabled_reason && !active) {
    ImGui::Indent(label_w);
    ImGui::TextColored(kWarnColor, "Disabled by webhookd: %s", original->disabled_reason->c_str());
    ImGui::Unindent(label_w);
  }
  ImGui::Spacing();

  // Description
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Description");
  ImGui::SameLine(label_w);
  ImGui::SetNextItemWidth(field_w);
  if (ImGui::InputTextWithHint("##description", "optional: what this endpoint is for",
                               &description)) {
    server_errors.erase("description");
  }
  ui.RecordLastItem("description");
  ImGui::Indent(label_w);
  FieldMessage(ui, "description", DescriptionError(description));
  ImGui::Unindent(label_w);
  ui.SetField("description", description);
  ImGui::Spacing();
  DrawRateLimit(ctx);
  ImGui::Spacing();
  DrawHeaders(ctx);
  ImGui::EndChild();
  DrawBacklogPrompt(ctx);

  // Footer
  ImGui::Separator();
  const bool can_save = !saving;
  if (NamedButton(ui, "save", mode == Mode::kCreate ? "Create webhook" : "Save changes",
                  can_save) ||
      (can_save && ImGui::IsKeyDown(ImGuiMod_Ctrl) && ImGui::IsKeyPressed(ImGuiKey_Enter))) {
    Save(ctx);
  }
  ImGui::SameLine();
  if (NamedButton(ui, "cancel", "Cancel") ||
      (!saving && !ask_discard && ImGui::IsKeyPressed(ImGuiKey_Escape) &&
       !ImGui::IsAnyItemActive())) {
    AskToLeave(ctx, mode == Mode::kCreate ? std::string("/webhooks") : "/webhooks/" + id);
  }
  ImGui::SameLine();
  if (saving) {
    ImGui::TextDisabled("Saving");
    ImGui::SameLine();
    Spinner();
  } else if (!error.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kErrorColor);
    TextView(error);
    ImGui::PopStyleColor();
  } else {
    ImGui::TextDisabled("Ctrl+Enter saves, Escape cancels");
  }
  ui.RecordLastItem("form_message");
  ui.SetField("error", error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error));
  ui.SetField("server_errors", server_errors);
}

void WebhookFormScreen::DrawEvents(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const float label_w = ImGui::GetFontSize() * 8.0f;
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Events");
  ImGui::SameLine(label_w);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 16.0f);
  ImGui::InputTextWithHint("##filter", "filter events", &filter);
  ui.RecordLastItem("filter");
  ImGui::SameLine();
  ImGui::Text("%d of %d selected", static_cast<int>(events.size()),
              static_cast<int>(SubscribableCount()));
  ImGui::SameLine();
  if (NamedButton(ui, "select_none", "Clear", !events.empty())) events.clear();

  const std::string needle = Lower(filter);
  std::vector<const EventType*> all_visible;
  for (const EventCategory& category : SubscribableCategories()) {
    for (const EventGroup& g : category.groups) {
      for (const EventType* e : g.events) {
        if (Matches(*e, needle)) all_visible.push_back(e);
      }
    }
  }
  ImGui::Indent(label_w);
  // The fields below the picker (secret, status, description, rate limit, headers) stay in view.
  const float events_h =
      std::max(ImGui::GetFontSize() * 14.0f,
               ImGui::GetContentRegionAvail().y -
                   ImGui::GetFontSize() * (21.0f + 1.7f * static_cast<float>(headers.size())));
  ImGui::BeginChild("events", ImVec2(0, events_h), ImGuiChildFlags_Border);
  if (all_visible.empty()) ImGui::TextDisabled("No event matches \"%s\".", filter.c_str());
  // The catalog's categories, then webhookd's notices about the team's webhooks.
  for (const EventCategory& category : SubscribableCategories()) {
    std::vector<const EventType*> cat_events;
    for (const EventGroup& g : category.groups) {
      for (const EventType* e : g.events) {
        if (Matches(*e, needle)) cat_events.push_back(e);
      }
    }
    if (cat_events.empty()) continue;
    const std::string cat(category.name);
    ImGui::PushID(cat.c_str());
    if (SetCheckbox(cat.c_str(), events, cat_events)) server_errors.erase("events");
    ui.RecordLastItem("category:" + cat);
    ImGui::Indent();
    for (const EventGroup& group : category.groups) {
      std::vector<const EventType*> group_events;
      for (const EventType* e : group.events) {
        if (Matches(*e, needle)) group_events.push_back(e);
      }
      if (group_events.empty()) continue;
      const std::string gname(group.name);
      ImGui::PushID(gname.c_str());
      // One line per group: its select-all (when it has more than one event), then its events.
      const bool group_box = group.events.size() > 1;
      if (group_box) {
        if (SetCheckbox((gname + ":").c_str(), events, group_events)) {
          server_errors.erase("events");
        }
        ui.RecordLastItem("group:" + cat + "/" + gname);
      }
      bool first = !group_box;
      for (const EventType* e : group_events) {
        const std::string eid(e->id);
        if (!first) ImGui::SameLine(0, ImGui::GetFontSize() * 1.2f);
        first = false;
        bool on = events.count(eid) > 0;
        if (ImGui::Checkbox(std::string(e->name).c_str(), &on)) {
          if (on) {
            events.insert(eid);
          } else {
            events.erase(eid);
          }
          server_errors.erase("events");
        }
        ui.RecordLastItem("event:" + eid);
        if (ImGui::IsItemHovered()) {
          ImGui::BeginTooltip();
          ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30.0f);
          TextView(e->id);
          ImGui::Separator();
          TextView(e->purpose);
          ImGui::PopTextWrapPos();
          ImGui::EndTooltip();
          ui.SetField("tooltip_event", eid);
        }
      }
      ImGui::PopID();
    }
    ImGui::Unindent();
    ImGui::PopID();
  }
  ImGui::EndChild();

  const std::vector<std::string> picked(events.begin(), events.end());
  const FieldErrors errs = EventsErrors(picked);
  std::optional<std::string> local;
  if (!errs.empty() && (tried_save || !picked.empty())) local = errs.front().message;
  FieldMessage(ui, "events", local);
  ImGui::Unindent(label_w);
  ui.SetField("events", picked);
}

void WebhookFormScreen::DrawSecret(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const float label_w = ImGui::GetFontSize() * 8.0f;
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Signing secret");
  ImGui::SameLine(label_w);
  auto radio = [&](const char* label, const char* name, SecretMode m) {
    if (ImGui::RadioButton(label, secret_mode == m)) {
      secret_mode = m;
      server_errors.erase("secret");
    }
    ui.RecordLastItem(std::string("secret_mode:") + name);
    ImGui::SameLine();
  };
  if (mode == Mode::kEdit) {
    radio(original && original->secret ? "Keep current" : "Keep (none)", "keep", SecretMode::kKeep);
  }
  radio("Generate", "generate", SecretMode::kGenerate);
  radio("Enter my own", "enter", SecretMode::kEnter);
  radio(mode == Mode::kEdit && original && original->secret ? "Remove" : "None", "none",
        SecretMode::kNone);
  ImGui::NewLine();
  ImGui::Indent(label_w);
  std::optional<std::string> local;
  switch (secret_mode) {
    case SecretMode::kKeep:
      ImGui::TextDisabled(original && original->secret
                              ? "Deliveries stay signed with the current secret."
                              : "Deliveries are not signed.");
      break;
    case SecretMode::kGenerate:
      ImGui::TextDisabled(Rotates() ? "webhookd makes a strong whsec_ secret, shown after saving "
                                      "with a copy button; the current one keeps signing for "
                                      "24 hours, so receivers can switch without losing events."
                                    : "webhookd makes a strong whsec_ secret, shown after saving "
                                      "with a copy button (later an admin can reveal it; "
                                      "audited).");
      break;
    case SecretMode::kEnter:
      ImGui::SetNextItemWidth(ImGui::GetFontSize() * 38.0f);
      if (ImGui::InputTextWithHint("##secret", "whsec_ + base64 of 24 to 64 random bytes", &secret,
                                   ImGuiInputTextFlags_Password)) {
        server_errors.erase("secret");
      }
      ui.RecordLastItem("secret");
      if (!secret.empty() || tried_save) local = SecretError(secret);
      if (Rotates()) {
        ImGui::TextDisabled("The current secret keeps signing for 24 hours beside this one.");
      }
      break;
    case SecretMode::kNone:
      ImGui::TextColored(kWarnColor,
                         "Unsigned: receivers cannot tell these requests from forged ones.");
      break;
  }
  FieldMessage(ui, "secret", local);
  ImGui::Unindent(label_w);
  static const char* kModeNames[] = {"keep", "none", "enter", "generate"};
  ui.SetField("secret_mode", kModeNames[static_cast<int>(secret_mode)]);
}

namespace {

// The rate limit field as the API would get it: null when empty, a number when it is digits,
// the text otherwise (which RateLimitError then refuses with the API's message).
Json RateLimitValue(const std::string& text) {
  if (text.empty()) return nullptr;
  if (text.size() <= 9 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::stoll(text);
  }
  return text;
}

}  // namespace

void WebhookFormScreen::DrawRateLimit(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const float label_w = ImGui::GetFontSize() * 8.0f;
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Rate limit");
  ImGui::SameLine(label_w);
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 8.0f);
  if (ImGui::InputTextWithHint("##rate_limit", "no limit", &rate_limit,
                               ImGuiInputTextFlags_CharsDecimal)) {
    server_errors.erase("rate_limit_per_second");
  }
  ui.RecordLastItem("rate_limit");
  ImGui::SameLine();
  ImGui::TextDisabled("requests a second at most (the queue waits)");
  const Json value = RateLimitValue(rate_limit);
  ImGui::Indent(label_w);
  FieldMessage(ui, "rate_limit_per_second", value.is_null() ? std::nullopt : RateLimitError(value));
  ImGui::Unindent(label_w);
  ui.SetField("rate_limit", rate_limit);
}

void WebhookFormScreen::DrawHeaders(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const float label_w = ImGui::GetFontSize() * 8.0f;
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Headers");
  ImGui::SameLine(label_w);
  ImGui::TextDisabled(
      "sent with every delivery, e.g. an API gateway's key; values are kept sealed");
  ImGui::Indent(label_w);
  nlohmann::json rows = nlohmann::json::array();
  int remove = -1;
  for (size_t i = 0; i < headers.size(); ++i) {
    HeaderRow& h = headers[i];
    const std::string n = std::to_string(i);
    ImGui::PushID(static_cast<int>(i));
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 12.0f);
    // A stored header keeps its name: its value is not known here, so it cannot move.
    if (ImGui::InputTextWithHint("##name", "X-Header-Name", &h.name,
                                 h.stored ? ImGuiInputTextFlags_ReadOnly : 0)) {
      server_errors.erase("headers");
    }
    ui.RecordLastItem("header_name:" + n);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 18.0f);
    if (h.keep_value) {
      ImGui::BeginDisabled();
      std::string shown(kMaskedHeaderValue);
      ImGui::InputText("##value", &shown, ImGuiInputTextFlags_ReadOnly);
      ImGui::EndDisabled();
      ui.RecordLastItem("header_value:" + n);
      ImGui::SameLine();
      if (NamedButton(ui, "header_replace:" + n, "Replace value")) h.keep_value = false;
    } else {
      if (ImGui::InputTextWithHint("##value", "value", &h.value, ImGuiInputTextFlags_Password)) {
        server_errors.erase("headers");
      }
      ui.RecordLastItem("header_value:" + n);
    }
    ImGui::SameLine();
    if (NamedButton(ui, "header_remove:" + n, "Remove")) remove = static_cast<int>(i);
    const std::optional<std::string> row_error = RowError(h);
    if (row_error) ErrorText(*row_error);
    rows.push_back({{"name", h.name},
                    {"stored", h.stored},
                    {"kept", h.keep_value},
                    {"value_length", h.value.size()},
                    {"error", row_error ? nlohmann::json(*row_error) : nlohmann::json(nullptr)}});
    ImGui::PopID();
  }
  if (remove >= 0) {
    if (headers[remove].stored) removed_headers.push_back(headers[remove].name);
    headers.erase(headers.begin() + remove);
    server_errors.erase("headers");
  }
  if (NamedButton(ui, "add_header", "Add header", headers.size() < kMaxCustomHeaders)) {
    headers.push_back(HeaderRow{});
  }
  const FieldErrors set_errors = HeadersErrors(HeaderSet());
  FieldMessage(ui, "headers",
               set_errors.empty() ? std::nullopt : std::optional(set_errors.front().message));
  ImGui::Unindent(label_w);
  ui.SetField("headers", rows);
}

void WebhookFormScreen::DrawBacklogPrompt(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (ask_backlog && !ImGui::IsPopupOpen("Switch the webhook back on")) {
    ImGui::OpenPopup("Switch the webhook back on");
  }
  ui.SetField("backlog_prompt", ask_backlog);
  if (!ImGui::BeginPopupModal("Switch the webhook back on", nullptr,
                              ImGuiWindowFlags_AlwaysAutoResize)) {
    return;
  }
  ImGui::TextUnformatted("Events kept queuing for this webhook while it was off.");
  ImGui::TextUnformatted(
      "Deliver them now (the receiver gets the whole backlog at once, oldest first),");
  ImGui::TextUnformatted("or cancel them and send only what happens from now on?");
  ImGui::Spacing();
  if (NamedButton(ui, "backlog_deliver", "Deliver the backlog")) {
    ask_backlog = false;
    ImGui::CloseCurrentPopup();
    Submit(ctx, /*cancel_backlog=*/false);
  }
  ImGui::SameLine();
  if (NamedButton(ui, "backlog_cancel", "Cancel the backlog")) {
    ask_backlog = false;
    ImGui::CloseCurrentPopup();
    Submit(ctx, /*cancel_backlog=*/true);
  }
  ImGui::SameLine();
  if (NamedButton(ui, "backlog_back", "Back to the form") || ImGui::IsKeyPressed(ImGuiKey_Escape)) {
    ask_backlog = false;
    ImGui::CloseCurrentPopup();
  }
  ImGui::EndPopup();
}

bool WebhookFormScreen::HasErrors() {
  const std::vector<std::string> picked(events.begin(), events.end());
  bool bad = UrlError(url).has_value() || !EventsErrors(picked).empty() ||
             DescriptionError(description).has_value();
  if (secret_mode == SecretMode::kEnter && SecretError(secret)) bad = true;
  if (const Json rate = RateLimitValue(rate_limit); !rate.is_null() && RateLimitError(rate)) {
    bad = true;
  }
  for (const HeaderRow& h : headers) {
    if (RowError(h)) bad = true;
  }
  return bad || !HeadersErrors(HeaderSet()).empty();
}

std::optional<std::string> WebhookFormScreen::RowError(const HeaderRow& h) {
  // A stored header's name was accepted when it was set, and its value is not known here.
  if (!h.stored) {
    if (auto e = HeaderNameError(h.name)) return e;
  }
  return h.keep_value ? std::nullopt : HeaderValueError(h.value);
}

Headers WebhookFormScreen::HeaderSet() const {
  // Stored values count as the mask for the set's limits (count, size, names twice): webhookd
  // checks the real sizes.
  Headers set;
  for (const HeaderRow& h : headers) {
    set.emplace_back(h.name, h.keep_value ? std::string(kMaskedHeaderValue) : h.value);
  }
  return set;
}

void WebhookFormScreen::Save(ScreenContext& ctx) {
  tried_save = true;
  error.clear();
  server_errors.clear();
  // The same checks webhookd makes: a form that would get a 422 is not sent.
  if (HasErrors()) {
    error = "Fix the fields marked in red, then save again.";
    return;
  }
  if (mode == Mode::kEdit && original && !original->active && active) {
    ask_backlog = true;
    return;
  }
  Submit(ctx, /*cancel_backlog=*/false);
}

void WebhookFormScreen::Submit(ScreenContext& ctx, bool cancel_backlog) {
  const std::vector<std::string> picked(events.begin(), events.end());

  Json body = Json::object();
  const bool create = mode == Mode::kCreate;
  if (create || url != original->url) body["url"] = url;
  if (create || picked != original->events) body["events"] = picked;
  if (create || active != original->active) body["active"] = active;
  if (create) {
    if (!description.empty()) body["description"] = description;
  } else if (description != original->description.value_or("")) {
    body["description"] = description.empty() ? Json(nullptr) : Json(description);
  }
  // A new secret for a webhook that has one is a rotation, sent after the other changes: the
  // current secret keeps signing for the grace period, so receivers switch without a gap.
  rotate_with.reset();
  switch (secret_mode) {
    case SecretMode::kKeep:
      break;
    case SecretMode::kGenerate:
      if (Rotates()) {
        rotate_with = Json::object();
      } else {
        body["secret"] = std::string(kGenerateSecret);
      }
      break;
    case SecretMode::kEnter:
      if (Rotates()) {
        rotate_with = Json{{"secret", secret}};
      } else {
        body["secret"] = secret;
      }
      break;
    case SecretMode::kNone:
      if (!create && original->secret) body["secret"] = nullptr;
      break;
  }
  const Json rate = RateLimitValue(rate_limit);
  if (create ? !rate.is_null()
             : rate != (original->rate_limit_per_second ? Json(*original->rate_limit_per_second)
                                                        : Json(nullptr))) {
    body["rate_limit_per_second"] = rate;
  }
  // Headers: the whole set on create; on edit a merge patch of what changed (null removes).
  Json header_patch = Json::object();
  for (const std::string& name : removed_headers) header_patch[name] = nullptr;
  for (const HeaderRow& h : headers) {
    if (h.keep_value) continue;
    // Removing a header and adding one of the same name (in any case) is one replacement.
    for (auto it = header_patch.begin(); it != header_patch.end();) {
      it = it->is_null() && Lower(it.key()) == Lower(h.name) ? header_patch.erase(it) : ++it;
    }
    header_patch[h.name] = h.value;
  }
  if (!header_patch.empty()) body["headers"] = std::move(header_patch);
  if (!create && body.empty() && !rotate_with) {
    ctx.notice("Nothing changed");
    Leave(ctx, "/webhooks/" + id);
    return;
  }

  saving = true;
  if (cancel_backlog) {
    // Cancelled before the webhook is switched on, so none of the backlog can go out between.
    const uint64_t gen = generation;
    ScreenContext* c = &ctx;
    ctx.api->Send("POST", "/api/v1/webhooks/" + id + "/cancel-pending", Json::object(),
                  [this, gen, c, body](const ApiResponse& r) {
                    if (gen != generation) return;
                    if (!r.ok()) {
                      saving = false;
                      error = "Could not cancel the backlog: " + r.error;
                      return;
                    }
                    c->notice("Cancelled " + std::to_string(JInt(r.body, "cancelled")) +
                              " queued deliveries");
                    Send(*c, body);
                  });
    return;
  }
  Send(ctx, std::move(body));
}

void WebhookFormScreen::Send(ScreenContext& ctx, Json body) {
  const bool create = mode == Mode::kCreate;
  if (!create && body.empty()) {  // only the secret changes
    Rotate(ctx);
    return;
  }
  saving = true;
  const uint64_t gen = generation;
  ScreenContext* c = &ctx;
  ctx.api->Send(create ? "POST" : "PATCH",
                create ? std::string("/api/v1/webhooks") : "/api/v1/webhooks/" + id, body,
                [this, gen, c, create](const ApiResponse& r) {
                  if (gen != generation) return;
                  saving = false;
                  if (!r.ok()) {
                    error = r.error;
                    for (const FieldError& f : r.fields) {
                      // "events[2]" belongs next to the events picker.
                      const std::string field = f.field.substr(0, f.field.find('['));
                      server_errors[field.empty() ? "url" : field] = f.message;
                    }
                    return;
                  }
                  const std::string wid = JStr(r.body, "id");
                  if (rotate_with) {
                    Rotate(*c);
                    return;
                  }
                  if (auto s = JOptStr(r.body, "secret")) c->show_secret_once(wid, *s, nullptr);
                  c->notice(create ? "Webhook created" : "Webhook saved");
                  secret.clear();
                  Leave(*c, "/webhooks/" + wid);
                });
}

bool WebhookFormScreen::Rotates() const {
  return mode == Mode::kEdit && original && original->secret.has_value();
}

void WebhookFormScreen::Rotate(ScreenContext& ctx) {
  saving = true;
  const uint64_t gen = generation;
  ScreenContext* c = &ctx;
  ctx.api->Send("POST", "/api/v1/webhooks/" + id + "/secret/rotate", *rotate_with,
                [this, gen, c](const ApiResponse& r) {
                  if (gen != generation) return;
                  saving = false;
                  if (!r.ok()) {
                    error = "Saved, but the secret was not changed: " + r.error;
                    for (const FieldError& f : r.fields) server_errors["secret"] = f.message;
                    rotate_with.reset();
                    return;
                  }
                  rotate_with.reset();
                  c->show_secret_once(id, JStr(r.body, "secret"), r.body);
                  c->notice("Webhook saved; the old secret signs for 24 hours more");
                  secret.clear();
                  Leave(*c, "/webhooks/" + id);
                });
}

}  // namespace mambo::web
