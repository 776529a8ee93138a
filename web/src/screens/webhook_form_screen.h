#pragma once
// Create / edit a webhook. Every field is checked live by the shared validators (the messages are
// the ones webhookd's 422 would carry); Save sends only a valid form, and any 422 the server still
// returns is shown next to its field. Events are picked from the catalog by category and group,
// with select-all per category and group, a text filter, and each event's purpose as a tooltip.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mambo/models.h"

namespace mambo::web {

struct ScreenContext;
class UiState;

struct WebhookFormScreen {
  enum class Mode { kCreate, kEdit };
  enum class SecretMode { kKeep, kNone, kEnter, kGenerate };

  Mode mode = Mode::kCreate;
  std::string id;                   // edit: the webhook's id
  std::optional<Webhook> original;  // edit: as loaded
  bool loading = false;
  bool saving = false;

  std::string url;
  std::set<std::string> events;
  std::string filter;
  SecretMode secret_mode = SecretMode::kNone;
  std::string secret;
  bool active = true;
  std::string description;
  std::string rate_limit;  // as typed: "" = no limit

  // Custom headers, one row each. A stored header's value is unknown here (every response masks
  // it): its row keeps it until the user replaces it; its name cannot change (remove it and add
  // another), so that saving never needs a value the console does not have.
  struct HeaderRow {
    std::string name;
    std::string value;
    bool stored = false;      // edit: a header the webhook has
    bool keep_value = false;  // stored and not replaced
  };
  std::vector<HeaderRow> headers;
  std::vector<std::string> removed_headers;  // edit: stored names the user removed

  // Switching an inactive webhook back on: ask first what becomes of the deliveries that queued
  // up meanwhile (deliver them all at once, or cancel them).
  bool ask_backlog = false;

  std::map<std::string, std::string> server_errors;  // field -> the 422's message
  std::string error;                                 // form-level error
  bool tried_save = false;  // show "required" style errors only after the first Save
  bool focus_url = false;
  uint64_t generation = 0;

  void OpenCreate();
  void OpenEdit(ScreenContext& ctx, const std::string& webhook_id);
  // Unsaved changes: the form differs from how it opened (or was last saved).
  bool Dirty() const;
  // Goes to `to`, after asking when there are unsaved changes (Escape, Cancel, a tab, Back).
  void AskToLeave(ScreenContext& ctx, const std::string& to);
  void Draw(ScreenContext& ctx);
  const char* Title() const { return mode == Mode::kCreate ? "Create Webhook" : "Edit Webhook"; }

 private:
  void DrawEvents(ScreenContext& ctx);
  void DrawSecret(ScreenContext& ctx);
  void DrawHeaders(ScreenContext& ctx);
  void DrawRateLimit(ScreenContext& ctx);
  void DrawBacklogPrompt(ScreenContext& ctx);
  void DrawDiscardPrompt(ScreenContext& ctx);
  std::string Snapshot() const;                           // the inputs, to compare
  void Leave(ScreenContext& ctx, const std::string& to);  // without asking
  std::optional<std::string> pristine;
  std::string leave_to;
  bool ask_discard = false, open_discard = false;
  // The local checks (the shared validators): true when the form would get a 422.
  bool HasErrors();
  static std::optional<std::string> RowError(const HeaderRow& h);
  Headers HeaderSet() const;
  void Save(ScreenContext& ctx);
  // Sends the form; with `cancel_backlog`, cancels the webhook's queued deliveries first.
  void Submit(ScreenContext& ctx, bool cancel_backlog);
  void Send(ScreenContext& ctx, Json body);
  // A new secret for a webhook that has one goes through the rotation (with its grace period)
  // instead of the PATCH, which would end the current secret at once.
  bool Rotates() const;
  void Rotate(ScreenContext& ctx);
  std::optional<Json> rotate_with;  // the rotation's body, while one is to be sent
  void FieldMessage(UiState& ui, const std::string& field, const std::optional<std::string>& local);
};

}  // namespace mambo::web
