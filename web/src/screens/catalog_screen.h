#pragma once
// The event catalog as a tree (category > group > event, purpose as tooltip) next to a webhook
// URL field validated live by the shared validator. It becomes part of the create/edit form.
// Selecting an event opens its detail panel: what it means, its example data and JSON Schema
// (copyable, as GET /api/v1/event-types/{type} serves them) and a "try it" editor that checks a
// payload with the validator webhookd's ingest uses, and shows the body a receiver would get.

#include <optional>
#include <string>
#include <string_view>

#include "mambo/validation.h"

namespace mambo::web {

class UiState;

struct CatalogScreen {
  static constexpr std::string_view kTitle = "Event catalog";

  std::string url;                       // what the user typed
  std::optional<std::string> url_error;  // mambo::UrlError(url), refreshed when url changes
  bool url_checked = false;              // url_error matches url

  // Selects an event type (a deep link, #/catalog/<type>) and opens the tree down to it. An
  // unknown type selects nothing and says so.
  void Select(std::string_view type);

  void Draw(UiState& ui);

 private:
  // The selected event type ("" when none) and its texts, made once per selection: the schema is
  // a few KiB of JSON, not worth dumping every frame.
  std::string selected_;
  std::string example_text_;      // the schema's example ("data"), indented
  std::string schema_text_;       // the self-contained schema, indented
  std::string unknown_type_;      // a deep link's type that is not in the catalog
  bool reveal_selected_ = false;  // open the tree to the selection and scroll to it, once
  std::string copied_;            // what the last copy button copied: "example" | "schema" | ...

  // "Try it": the user's data, what the shared validator says about it and, when it is valid,
  // the delivery body a receiver would get. The editor's ImGui id changes with try_generation_
  // so that a reset replaces the text even while the field has keyboard focus.
  std::string try_payload_;
  FieldErrors try_errors_;
  std::string envelope_text_;
  int try_generation_ = 0;

  void DrawUrlCheck(UiState& ui);
  void DrawCatalogTree(UiState& ui, float height);
  void DrawEventDetail(UiState& ui);
  void DrawTextTab(UiState& ui, const char* what, std::string& text);
  void DrawTryIt(UiState& ui);
  void DrawTryErrors();
  void SelectFromTree(const std::string& type);
  void ResetTryPayload();
  void CheckTryPayload();
};

}  // namespace mambo::web
