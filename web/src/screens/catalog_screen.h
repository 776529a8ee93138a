#pragma once
// The event catalog as a tree (category > group > event, purpose as tooltip) next to a webhook
// URL field validated live by the shared validator. It becomes part of the create/edit form.

#include <optional>
#include <string>
#include <string_view>

namespace mambo::web {

class UiState;

struct CatalogScreen {
  static constexpr std::string_view kTitle = "Event catalog";

  std::string url;                       // what the user typed
  std::optional<std::string> url_error;  // mambo::UrlError(url), refreshed when url changes
  bool url_checked = false;              // url_error matches url

  void Draw(UiState& ui);

 private:
  void DrawUrlCheck(UiState& ui);
  void DrawCatalogTree(UiState& ui);
};

}  // namespace mambo::web
