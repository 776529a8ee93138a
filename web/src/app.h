#pragma once
// The console application: owns the API client and one state struct per screen, routes the URL
// hash to a screen (deep links, back/forward), keeps the session (token in sessionStorage only)
// and draws the page frame: header, navigation, progress, messages.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "api_client.h"
#include "screen_context.h"
#include "screens/audit_screen.h"
#include "screens/catalog_screen.h"
#include "screens/details_screen.h"
#include "screens/events_screen.h"
#include "screens/sign_in_screen.h"
#include "screens/tokens_screen.h"
#include "screens/webhook_form_screen.h"
#include "screens/webhooks_screen.h"

struct ImGuiStyle;

namespace mambo::web {

enum class ScreenId {
  kSignIn,
  kWebhooks,
  kCreate,
  kEdit,
  kDetails,
  kAudit,
  kCatalog,
  kEvents,
  kTokens,
};

// Stable name reported to tests (ui_state_json "screen").
std::string_view ScreenName(ScreenId id);

// The console's colours and spacing, at 1 CSS pixel per pixel (main.cpp scales it).
void ApplyConsoleStyle(ImGuiStyle& style);

class App {
 public:
  App();
  // Reads the session and the URL hash; call once, after ImGui is set up.
  void Start();
  // Every animation frame, drawn or not: follows hash changes, runs timers (live refresh).
  void Update(int64_t now_ms);
  // Draws one frame between ImGui::NewFrame() and ImGui::Render(). `pixel_ratio` is the
  // devicePixelRatio ImGui coordinates are scaled by (reported rectangles are in CSS pixels).
  void Draw(float pixel_ratio);
  // True while something changes without user input (requests in flight): keep drawing.
  bool Busy() const { return api_.in_flight() > 0; }

  ScreenId screen() const { return screen_; }

 private:
  void Route(const std::string& hash);
  void Go(const std::string& hash);
  void SignIn(const std::string& token);
  // Asks who the token is (GET /api/v1/tokens/current): its role decides what the screens
  // offer. `then` runs once a viewer or admin token is known; an ingest token ends the session.
  void LoadIdentity(std::function<void()> then);
  void SignOut();
  void SessionEnded(const std::string& why);
  void DrawHeader();
  void DrawMessages();
  std::string ScreenTitle() const;

  ApiClient api_;
  ScreenContext ctx_;
  ScreenId screen_ = ScreenId::kSignIn;
  bool signed_in_ = false;
  std::string route_;  // the hash the current screen was opened for

  SignInScreen sign_in_;
  WebhooksScreen webhooks_;
  WebhookFormScreen form_;
  DetailsScreen details_;
  AuditScreen audit_;
  CatalogScreen catalog_;
  EventsScreen events_;
  TokensScreen tokens_;

  std::string role_;  // of the signed-in token: "admin" or "viewer" once known
  std::string notice_;
  int64_t notice_at_ = 0;
  std::string error_;
  std::string title_;
};

}  // namespace mambo::web
