#pragma once
// What a screen may use while it draws or when an answer arrives: the API client, the test/tool
// view of the UI, navigation by URL hash and the app-wide message line. Screens hold no pointer
// to App; App hands this to them.

#include <cstdint>
#include <functional>
#include <string>

#include "mambo/models.h"  // Json

namespace mambo::web {

class ApiClient;
class UiState;

struct ScreenContext {
  ApiClient* api = nullptr;
  UiState* ui = nullptr;
  int64_t now_ms = 0;  // wall clock at the start of this frame
  // The signed-in token (GET /api/v1/tokens/current): its id and role. Screens show the
  // buttons of changes only to an admin; a viewer reads.
  std::string token_id;
  bool can_write = false;
  // Goes to a route ("/webhooks/wh_1"): a new history entry, so Back returns here.
  std::function<void(const std::string&)> go;
  // App-wide message line: a confirmation ("Webhook saved") or an error a user must see.
  std::function<void(const std::string&)> notice;
  std::function<void(const std::string&)> error;
  // The secret the API returned (create, generate, rotate) for webhook `id`, with the rotation's
  // answer when it was one (else null): the details screen shows it with a copy button until
  // the user dismisses it.
  std::function<void(const std::string& id, const std::string& secret, const Json& rotation)>
      show_secret_once;
};

}  // namespace mambo::web
