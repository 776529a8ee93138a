#include "app.h"

#include <imgui.h>

#include <algorithm>
#include <vector>

#include "browser.h"
#include "mambo/validation.h"
#include "ui_state.h"
#include "widgets.h"

namespace mambo::web {
namespace {

constexpr const char* kTokenKey = "mambo.console.token";
constexpr int64_t kNoticeMs = 4000;

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    const size_t j = path.find('/', i);
    const std::string part = path.substr(i, j == std::string::npos ? std::string::npos : j - i);
    if (!part.empty()) parts.push_back(part);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return parts;
}

}  // namespace

std::string_view ScreenName(ScreenId id) {
  switch (id) {
    case ScreenId::kSignIn:
      return "sign_in";
    case ScreenId::kWebhooks:
      return "webhooks";
    case ScreenId::kCreate:
      return "create";
    case ScreenId::kEdit:
      return "edit";
    case ScreenId::kDetails:
      return "details";
    case ScreenId::kAudit:
      return "audit";
    case ScreenId::kCatalog:
      return "catalog";
    case ScreenId::kEvents:
      return "events";
    case ScreenId::kTokens:
      return "tokens";
  }
  return "unknown";
}

void ApplyConsoleStyle(ImGuiStyle& style) {
  ImGui::StyleColorsDark(&style);
  style.WindowRounding = 0.0f;
  style.FrameRounding = 4.0f;
  style.GrabRounding = 4.0f;
  style.PopupRounding = 4.0f;
  style.WindowPadding = ImVec2(16, 12);
  style.FramePadding = ImVec2(8, 5);
  style.ItemSpacing = ImVec2(8, 6);
  style.IndentSpacing = 18.0f;
  style.Colors[ImGuiCol_WindowBg] = ImVec4(0.06f, 0.07f, 0.08f, 1.0f);
  // Panels are told apart by borders, not fills: a software renderer pays for every filled
  // pixel, and a filled panel behind a table is a second full layer each frame.
  style.Colors[ImGuiCol_ChildBg] = ImVec4(0.0f, 0.0f, 0.0f, 0.0f);
  style.Colors[ImGuiCol_PopupBg] = ImVec4(0.11f, 0.12f, 0.14f, 1.0f);
}

App::App() {
  ctx_.api = &api_;
  ctx_.ui = &CurrentUiState();
  ctx_.go = [this](const std::string& hash) { Go(hash); };
  ctx_.notice = [this](const std::string& m) {
    notice_ = m;
    notice_at_ = ctx_.now_ms;
    error_.clear();
  };
  ctx_.error = [this](const std::string& m) {
    error_ = m;
    notice_.clear();
  };
  ctx_.show_secret_once = [this](const std::string& id, const std::string& secret,
                                 const Json& rotation) {
    details_.id = id;
    details_.SetSecretOnce(secret, rotation);
  };
  sign_in_.submit = [this](const std::string& token) { SignIn(token); };
  tokens_.on_self_revoked = [this] { SessionEnded("You revoked the token of this session."); };
  api_.SetOnUnauthorized([this](const ApiResponse& r) {
    SessionEnded(signed_in_ ? "Your session ended: " + r.error + ". Sign in again."
                            : "Token refused: " + r.error);
  });
}

void App::Start() {
  ctx_.now_ms = browser::NowMs();
  const std::string token = browser::SessionGet(kTokenKey);
  if (!token.empty()) {
    api_.SetToken(token);
    signed_in_ = true;
    // Until the role is known nothing is offered that changes anything; a deep link to a form
    // opens once it is.
    LoadIdentity([this] {
      if (screen_ == ScreenId::kCreate || screen_ == ScreenId::kEdit ||
          screen_ == ScreenId::kTokens) {
        Route(route_);
      }
    });
  }
  browser::ConsumeHashChanged();
  Route(browser::GetHash());
}

void App::Update(int64_t now_ms) {
  ctx_.now_ms = now_ms;
  if (browser::ConsumeHashChanged()) {
    const std::string hash = browser::GetHash();
    if (hash != route_ && (screen_ == ScreenId::kCreate || screen_ == ScreenId::kEdit) &&
        form_.Dirty()) {
      // The browser's Back (or a typed address) away from unsaved changes: the form stays (its
      // address put back) and asks; leaving then goes where the user meant to.
      browser::ReplaceHash(route_);
      form_.AskToLeave(ctx_, hash);
    } else if (hash != route_) {
      Route(hash);
    }
  }
  if (!signed_in_) return;
  if (screen_ == ScreenId::kWebhooks) webhooks_.Tick(ctx_);
  if (screen_ == ScreenId::kDetails) details_.Tick(ctx_);
  if (screen_ == ScreenId::kEvents) events_.Tick(ctx_);
  if (!notice_.empty() && now_ms - notice_at_ > kNoticeMs) notice_.clear();
}

void App::Go(const std::string& hash) {
  // Away from unsaved changes (a tab, a link): ask first, before the history moves.
  if ((screen_ == ScreenId::kCreate || screen_ == ScreenId::kEdit) && form_.Dirty() &&
      hash != route_) {
    form_.AskToLeave(ctx_, hash);
    return;
  }
  if (browser::GetHash() == hash) {
    Route(hash);  // same place: reload it (no hashchange would fire)
  } else {
    browser::SetHash(hash);  // hashchange -> Update -> Route; Back returns here
  }
}

void App::Route(const std::string& hash) {
  route_ = hash;
  error_.clear();
  const std::vector<std::string> p = Split(hash);
  if (!p.empty() && p[0] == "catalog" && p.size() <= 2) {
    screen_ = ScreenId::kCatalog;
    if (p.size() == 2) catalog_.Select(p[1]);  // #/catalog/<type>: that event, selected
    return;
  }
  if (!signed_in_) {
    screen_ = ScreenId::kSignIn;  // the hash stays: after sign-in the deep link opens
    sign_in_.focus_token = true;
    return;
  }
  if (p.empty() || (p.size() == 1 && p[0] == "signin")) {
    browser::ReplaceHash("/webhooks");
    route_ = "/webhooks";
    screen_ = ScreenId::kWebhooks;
    webhooks_.Open(ctx_);
  } else if (p[0] == "webhooks" && p.size() == 1) {
    screen_ = ScreenId::kWebhooks;
    webhooks_.Open(ctx_);
  } else if (p[0] == "webhooks" &&
             (p.size() == 2 && p[1] == "new" || (p.size() == 3 && p[2] == "edit")) &&
             !ctx_.can_write) {
    // A viewer (or a role not known yet) gets the page it can use.
    screen_ = p.size() == 3 ? ScreenId::kDetails : ScreenId::kWebhooks;
    if (p.size() == 3) {
      details_.Open(ctx_, p[1]);
    } else {
      webhooks_.Open(ctx_);
    }
  } else if (p[0] == "webhooks" && p.size() == 2 && p[1] == "new") {
    screen_ = ScreenId::kCreate;
    form_.OpenCreate();
  } else if (p[0] == "webhooks" && p.size() == 2 && IsValidId(p[1])) {
    screen_ = ScreenId::kDetails;
    details_.Open(ctx_, p[1]);
  } else if (p[0] == "webhooks" && p.size() == 4 && IsValidId(p[1]) && p[2] == "deliveries" &&
             IsValidId(p[3])) {
    screen_ = ScreenId::kDetails;
    details_.OpenDelivery(ctx_, p[1], p[3]);
  } else if (p[0] == "webhooks" && p.size() == 3 && IsValidId(p[1]) && p[2] == "edit") {
    screen_ = ScreenId::kEdit;
    form_.OpenEdit(ctx_, p[1]);
  } else if (p.size() == 1 && p[0] == "tokens") {
    screen_ = ScreenId::kTokens;
    tokens_.Open(ctx_);
  } else if (p.size() == 1 && p[0] == "audit") {
    screen_ = ScreenId::kAudit;
    audit_.Open(ctx_);
  } else if (p[0] == "events" && (p.size() == 1 || (p.size() == 2 && IsValidId(p[1])))) {
    const bool fresh = screen_ != ScreenId::kEvents;  // moving between events keeps the list
    screen_ = ScreenId::kEvents;
    events_.Open(ctx_, p.size() == 2 ? p[1] : "", fresh);
  } else {
    error_ = "There is no page at #" + hash + "; showing the webhooks.";
    browser::ReplaceHash("/webhooks");
    route_ = "/webhooks";
    screen_ = ScreenId::kWebhooks;
    webhooks_.Open(ctx_);
  }
}

void App::SignIn(const std::string& token) {
  sign_in_.checking = true;
  api_.SetToken(token);
  LoadIdentity([this, token] {
    browser::SessionSet(kTokenKey, token);
    signed_in_ = true;
    sign_in_.token.clear();
    sign_in_.error.clear();
    Route(browser::GetHash());
  });
}

void App::LoadIdentity(std::function<void()> then) {
  api_.Get("/api/v1/tokens/current", [this, then = std::move(then)](const ApiResponse& r) {
    sign_in_.checking = false;
    if (r.status == 401) return;  // SessionEnded has said why
    if (!r.ok()) {
      api_.SetToken("");
      signed_in_ = false;
      screen_ = ScreenId::kSignIn;
      sign_in_.error = r.error;
      return;
    }
    const std::string role = JStr(r.body, "role");
    if (role != "admin" && role != "viewer") {
      SessionEnded(
          "This is an ingest token: it can only post events. Sign in with an admin or "
          "viewer token.");
      return;
    }
    ctx_.token_id = JStr(r.body, "id");
    ctx_.can_write = role == "admin";
    role_ = role;
    then();
  });
}

void App::SignOut() {
  webhooks_.Forget();  // nothing of this session is shown to the next
  ctx_.can_write = false;
  ctx_.token_id.clear();
  role_.clear();
  browser::SessionRemove(kTokenKey);
  api_.SetToken("");
  signed_in_ = false;
  sign_in_.error.clear();
  notice_ = "Signed out";
  notice_at_ = ctx_.now_ms;
  screen_ = ScreenId::kSignIn;
  sign_in_.focus_token = true;
  browser::SetHash("/signin");
}

void App::SessionEnded(const std::string& why) {
  webhooks_.Forget();  // nothing of this session is shown to the next
  ctx_.can_write = false;
  ctx_.token_id.clear();
  role_.clear();
  browser::SessionRemove(kTokenKey);
  api_.SetToken("");
  signed_in_ = false;
  sign_in_.checking = false;
  sign_in_.error = why;
  sign_in_.focus_token = true;
  if (screen_ != ScreenId::kCatalog) screen_ = ScreenId::kSignIn;
}

std::string App::ScreenTitle() const {
  switch (screen_) {
    case ScreenId::kSignIn:
      return SignInScreen::kTitle;
    case ScreenId::kWebhooks:
      return WebhooksScreen::kTitle;
    case ScreenId::kCreate:
    case ScreenId::kEdit:
      return form_.Title();
    case ScreenId::kDetails:
      return details_.Title();
    case ScreenId::kAudit:
      return AuditScreen::kTitle;
    case ScreenId::kCatalog:
      return std::string(CatalogScreen::kTitle);
    case ScreenId::kEvents:
      return events_.Title();
    case ScreenId::kTokens:
      return TokensScreen::kTitle;
  }
  return "";
}

void App::Draw(float pixel_ratio) {
  UiState& ui = CurrentUiState();
  ui.BeginFrame(ScreenName(screen_), pixel_ratio);

  const std::string title = "mambo EMM \u2014 " + ScreenTitle();
  if (title != title_) {
    title_ = title;
    browser::SetTitle(title);
  }

  // One borderless window covering the canvas: the page is the application, not a desktop.
  const ImGuiViewport* viewport = ImGui::GetMainViewport();
  ImGui::SetNextWindowPos(viewport->WorkPos);
  ImGui::SetNextWindowSize(viewport->WorkSize);
  // No background: glClear already paints it, and a software renderer pays per pixel filled.
  constexpr ImGuiWindowFlags kPage =
      ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
      ImGuiWindowFlags_NoBringToFrontOnFocus | ImGuiWindowFlags_NoBackground;
  ImGui::Begin("console", nullptr, kPage);
  DrawHeader();
  DrawMessages();
  switch (screen_) {
    case ScreenId::kSignIn:
      sign_in_.Draw(ctx_);
      break;
    case ScreenId::kWebhooks:
      webhooks_.Draw(ctx_);
      break;
    case ScreenId::kCreate:
    case ScreenId::kEdit:
      form_.Draw(ctx_);
      break;
    case ScreenId::kDetails:
      details_.Draw(ctx_);
      break;
    case ScreenId::kAudit:
      audit_.Draw(ctx_);
      break;
    case ScreenId::kCatalog:
      catalog_.Draw(ui);
      break;
    case ScreenId::kEvents:
      events_.Draw(ctx_);
      break;
    case ScreenId::kTokens:
      tokens_.Draw(ctx_);
      break;
  }
  ImGui::End();

  ui.SetField("route", route_);
  ui.SetField("signed_in", signed_in_);
  ui.SetField("role", role_.empty() ? nlohmann::json(nullptr) : nlohmann::json(role_));
  ui.SetField("in_flight", api_.in_flight());
  ui.SetField("reachable", api_.reachable());
  ui.SetField("notice", notice_.empty() ? nlohmann::json(nullptr) : nlohmann::json(notice_));
  ui.SetField("app_error", error_.empty() ? nlohmann::json(nullptr) : nlohmann::json(error_));
  ui.EndFrame();
}

void App::DrawHeader() {
  UiState& ui = CurrentUiState();
  ImGui::TextUnformatted("mambo EMM");
  ImGui::SameLine();
  ImGui::TextDisabled("/ Developers /");
  ImGui::SameLine();
  ImGui::TextUnformatted("Webhooks");
  ImGui::SameLine(0, ImGui::GetFontSize() * 2.0f);

  auto tab = [&](const char* label, const char* name, const char* hash, bool current) {
    if (current)
      ImGui::PushStyleColor(ImGuiCol_Button, ImGui::GetStyleColorVec4(ImGuiCol_ButtonActive));
    const bool pressed = ImGui::SmallButton(label);
    if (current) ImGui::PopStyleColor();
    ui.RecordLastItem(name);
    if (pressed) Go(hash);
    ImGui::SameLine();
  };
  if (signed_in_) {
    tab("Webhooks", "nav_webhooks", "/webhooks",
        screen_ == ScreenId::kWebhooks || screen_ == ScreenId::kDetails ||
            screen_ == ScreenId::kCreate || screen_ == ScreenId::kEdit);
    tab("Events", "nav_events", "/events", screen_ == ScreenId::kEvents);
    tab("Audit log", "nav_audit", "/audit", screen_ == ScreenId::kAudit);
    tab("Tokens", "nav_tokens", "/tokens", screen_ == ScreenId::kTokens);
  }
  tab("Event catalog", "nav_catalog", "/catalog", screen_ == ScreenId::kCatalog);

  // Right side: progress, connection, session.
  const float right = ImGui::GetFontSize() * (signed_in_ ? 16.0f : 10.0f);
  ImGui::SetCursorPosX(std::max(ImGui::GetCursorPosX(), ImGui::GetContentRegionMax().x - right));
  if (api_.in_flight() > 0) {
    Spinner();
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", api_.InFlightSummary().c_str());
    ImGui::SameLine();
    ImGui::TextDisabled("%d request%s", api_.in_flight(), api_.in_flight() == 1 ? "" : "s");
  } else if (!api_.reachable()) {
    ImGui::TextColored(kErrorColor, "offline");
  } else {
    ImGui::TextDisabled(" ");
  }
  ui.RecordLastItem("progress");
  if (signed_in_) {
    ImGui::SameLine();
    if (ImGui::SmallButton("Sign out")) SignOut();
    ui.RecordLastItem("sign_out");
  } else if (screen_ == ScreenId::kCatalog) {
    ImGui::SameLine();
    if (ImGui::SmallButton("Sign in")) Go("/signin");
    ui.RecordLastItem("nav_sign_in");
  }
  ImGui::Separator();
}

void App::DrawMessages() {
  UiState& ui = CurrentUiState();
  if (!api_.reachable()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kErrorColor);
    ImGui::TextUnformatted(
        "Server unreachable: webhookd did not answer. Your changes are not lost; retry when it is "
        "back.");
    ImGui::PopStyleColor();
    ui.RecordLastItem("offline_banner");
    ImGui::SameLine();
    if (ImGui::SmallButton("Retry")) Route(route_);
    ui.RecordLastItem("retry");
  }
  if (!error_.empty()) {
    ImGui::PushStyleColor(ImGuiCol_Text, kErrorColor);
    ImGui::PushTextWrapPos(ImGui::GetContentRegionMax().x - ImGui::GetFontSize() * 3.0f);
    TextView(error_);
    ImGui::PopTextWrapPos();
    ImGui::PopStyleColor();
    ui.RecordLastItem("app_error");
    ImGui::SameLine();
    if (ImGui::SmallButton("x##dismiss_error")) error_.clear();
  } else if (!notice_.empty()) {
    ImGui::TextColored(kOkColor, "%s", notice_.c_str());
    ui.RecordLastItem("notice");
  }
}

}  // namespace mambo::web
