#include "screens/details_screen.h"

#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>
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

// How long a webhook fails before auto-disable switches it off (webhookd's default).
constexpr int64_t kFailingSpellMs = 5 * 24 * 3'600'000LL;

constexpr const char* kStatusNames[] = {"All statuses", "pending",   "in_flight", "succeeded",
                                        "failed",       "exhausted", "cancelled"};

// What a rotation's answer says of the secrets rotated out: each signs until its own expiry.
std::string PreviousSecretsNote(const Json& rotation) {
  const auto it = rotation.find("previous_secrets");
  if (it == rotation.end() || !it->is_array() || it->empty()) return "";
  const std::optional<int64_t> latest = ParseTimestamp(JStr((*it)[0], "valid_until"));
  const std::string until = latest ? ShortTime(*latest) : "?";
  if (it->size() == 1) return "the old secret signs too until " + until;
  return std::to_string(it->size()) + " old secrets sign too, each until its own expiry (the " +
         "latest " + until + ")";
}

nlohmann::json OptInt(const std::optional<int>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// `text` as one shell word: single quotes, each ' written as '\''.
std::string ShellQuote(std::string_view text) {
  std::string out = "'";
  for (char ch : text) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  return out + "'";
}

// The request as a curl command that sends the same bytes with the same headers (less those curl
// sets itself). Its signature is as old as the attempt: receivers that check the timestamp refuse
// it after their tolerance (5 minutes in the Standard Webhooks libraries).
std::string CurlCommand(const std::string& url, const Headers& headers, const std::string& body) {
  std::string out = "curl -X POST " + ShellQuote(url);
  for (const auto& [name, value] : headers) {
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (lower == "host" || lower == "content-length") continue;
    out += " \\\n  -H " + ShellQuote(name + ": " + value);
  }
  return out + " \\\n  --data-raw " + ShellQuote(body);
}

// A receiver's check of a delivery in each language docs/verify/ has a complete receiver for:
// the Standard Webhooks library for Node.js, the standard library's hmac for Python, OpenSSL for
// C++. Each checks the signature over the raw body and the timestamp (5 minutes either way).
struct VerifySnippet {
  const char* language;
  const char* comment;  // how a line comment starts
  const char* code;
};
constexpr VerifySnippet kVerifySnippets[] = {
    {"Node.js", "//", R"js(// npm install standardwebhooks
import { Webhook } from 'standardwebhooks';

const wh = new Webhook(process.env.MAMBO_WEBHOOK_SECRET); // whsec_...

// rawBody: the request body exactly as received (not re-serialised JSON).
export function verify(rawBody, headers) {
  // Throws when the signature or the timestamp does not hold.
  return wh.verify(rawBody, {
    'webhook-id': headers['webhook-id'],
    'webhook-timestamp': headers['webhook-timestamp'],
    'webhook-signature': headers['webhook-signature'],
  });
}
)js"},
    {"Python", "#", R"py(import base64, hashlib, hmac, os, time

# The key is the base64 after "whsec_" (a secret you chose without it: its bytes).
KEY = base64.b64decode(os.environ["MAMBO_WEBHOOK_SECRET"].removeprefix("whsec_"))

def verify(raw_body: bytes, headers) -> bool:
    msg_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not msg_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
        return False  # too old or from the future: a replay
    signed = f"{msg_id}.{timestamp}.".encode() + raw_body
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    # Several "v1,<signature>" while a secret is being rotated: any one may match.
    return any(version == "v1" and hmac.compare_digest(signature, expected)
               for version, _, signature in
               (c.partition(",") for c in headers.get("webhook-signature", "").split()))
)py"},
    {"C++", "//", R"cc(// g++ -std=c++17 ... -lcrypto
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <ctime>
#include <sstream>
#include <string>

                       // key: the base64 after "whsec_", decoded. body: the raw request body.
                       bool Verify(const std::string& key, const std::string& body,
                                   const std::string& id, const std::string& timestamp,
                                   const std::string& signatures) {
                         if (id.empty() || timestamp.empty() || timestamp.size() > 12 ||
                             timestamp.find_first_not_of("0123456789") != std::string::npos ||
                             std::llabs(std::time(nullptr) - std::stoll(timestamp)) > 5 * 60) {
                           return false;  // too old or from the future: a replay
                         }
                         const std::string signed_text = id + "." + timestamp + "." + body;
                         unsigned char mac[EVP_MAX_MD_SIZE];
                         unsigned int mac_size = 0;
                         HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                              reinterpret_cast<const unsigned char*>(signed_text.data()),
                              signed_text.size(), mac, &mac_size);
                         std::string expected = "v1,";
                         expected.resize(3 + 4 * ((mac_size + 2) / 3));
                         EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&expected[3]), mac, static_cast<int>(mac_size));
                         // Several signatures (space-separated) while a secret is being rotated:
                         // any one may match.
                         std::istringstream candidates(signatures);
                         for (std::string c; candidates >> c;) {
                           if (c.size() == expected.size() && CRYPTO_memcmp(c.data(), expected.data(), c.size()) == 0) {
                             return true;
                           }
                         }
                         return false;
                       }
     )cc"},
};

// The snippet for language `index`, naming the headers this webhook sends besides the signed
// ones (a gateway in front of the receiver may want them).
std::string VerifySnippetText(size_t index, const Headers& custom) {
  const VerifySnippet& s = kVerifySnippets[index];
  std::string text = s.code;
  if (!custom.empty()) {
    text += "\n" + std::string(s.comment) + " This webhook also sends:";
    for (const auto& h : custom) text += " " + h.first;
    text += "\n";
  }
  return text;
}

}  // namespace

std::string DetailsScreen::Title() const {
  return webhook ? "Webhook " + webhook->url : "Webhook " + id;
}

void DetailsScreen::SetSecretOnce(const std::string& secret, const Json& rotation) {
  shown_secret = secret;
  shown_secret_once = true;
  previous_valid_until = PreviousSecretsNote(rotation);
}

void DetailsScreen::Open(ScreenContext& ctx, const std::string& webhook_id) {
  const bool same = webhook_id == id && webhook;
  const std::string keep_secret = webhook_id == id ? shown_secret : std::string();
  const bool keep_once = webhook_id == id && shown_secret_once;
  const std::string keep_previous = webhook_id == id ? previous_valid_until : std::string();
  const uint64_t gen = generation + 1;
  const uint64_t hgen = history_generation;
  const bool keep_live = live;
  const uint64_t cgen = charts.generation;
  const int keep_window = charts.window;
  *this = DetailsScreen{};
  generation = gen;
  history_generation = hgen;
  charts.generation = cgen;  // an answer for the webhook before is ignored
  charts.window = keep_window;
  live = keep_live;
  id = webhook_id;
  shown_secret = keep_secret;
  shown_secret_once = keep_once;
  previous_valid_until = keep_previous;
  loading = !same;
  ctx.api->Get("/api/v1/webhooks/" + id, [this, gen](const ApiResponse& r) {
    if (gen != generation) return;
    loading = false;
    if (!r.ok()) {
      error = r.status == 404 ? "This webhook does not exist (deleted?)." : r.error;
      return;
    }
    webhook = ParseWebhook(r.body);
  });
  ReloadHistory(ctx);
  charts.Load(ctx, id);
}

void DetailsScreen::OpenDelivery(ScreenContext& ctx, const std::string& webhook_id,
                                 const std::string& delivery_id) {
  Open(ctx, webhook_id);
  Select(ctx, delivery_id);
}

std::string DetailsScreen::HistoryQuery() const {
  std::string q;
  if (status_filter > 0) q += "&status=" + std::string(kStatusNames[status_filter]);
  if (!event_filter.empty()) q += "&event_type=" + ApiClient::Encode(event_filter);
  if (hour_filter) {
    q += "&attempted_since=" + ApiClient::Encode(FormatTimestamp(*hour_filter)) +
         "&attempted_until=" + ApiClient::Encode(FormatTimestamp(*hour_filter + 3'600'000));
  }
  return q;
}

void DetailsScreen::ReloadHistory(ScreenContext& ctx) {
  ++history_generation;
  deliveries.clear();
  next_cursor.reset();
  history_loaded = false;
  history_loading = false;
  refreshing = false;
  history_error.clear();
  LoadHistoryPage(ctx, "");
}

void DetailsScreen::LoadHistoryPage(ScreenContext& ctx, const std::string& cursor) {
  history_loading = true;
  const uint64_t hgen = history_generation;
  std::string path = "/api/v1/webhooks/" + id + "/deliveries?limit=" +
                     std::to_string(cursor.empty() ? kFirstPage : kNextPage) + HistoryQuery();
  if (!cursor.empty()) path += "&cursor=" + ApiClient::Encode(cursor);
  if (cursor.empty()) last_refresh_ms = ctx.now_ms;
  ctx.api->Get(path, [this, hgen](const ApiResponse& r) {
    if (hgen != history_generation) return;
    history_loading = false;
    if (!r.ok()) {
      history_error = "Could not load deliveries: " + r.error;
      return;
    }
    history_error.clear();
    history_loaded = true;
    if (r.body.contains("data") && r.body["data"].is_array()) {
      std::unordered_set<std::string> have;
      for (const Delivery& d : deliveries) have.insert(d.id);
      for (const Json& j : r.body["data"]) {
        Delivery d = ParseDelivery(j);
        if (!have.count(d.id)) deliveries.push_back(std::move(d));
      }
    }
    next_cursor = JOptStr(r.body, "next_cursor");
  });
}

// Live refresh: re-reads the newest page and merges it in front of what is loaded, so rows keep
// their place while statuses update and new deliveries appear on top.
void DetailsScreen::RefreshHistory(ScreenContext& ctx) {
  refreshing = true;
  last_refresh_ms = ctx.now_ms;
  const uint64_t hgen = history_generation;
  ctx.api->Get(
      "/api/v1/webhooks/" + id + "/deliveries?limit=" + std::to_string(kFirstPage) + HistoryQuery(),
      [this, hgen](const ApiResponse& r) {
        if (hgen != history_generation) return;
        refreshing = false;
        if (!r.ok()) {
          history_error = "Live refresh failed: " + r.error;
          return;
        }
        history_error.clear();
        std::vector<Delivery> fresh;
        if (r.body.contains("data") && r.body["data"].is_array()) {
          for (const Json& j : r.body["data"]) fresh.push_back(ParseDelivery(j));
        }
        std::unordered_set<std::string> fresh_ids;
        for (const Delivery& d : fresh) fresh_ids.insert(d.id);
        bool overlap = deliveries.empty();
        for (const Delivery& d : deliveries) {
          if (fresh_ids.count(d.id)) {
            overlap = true;
            break;
          }
        }
        if (!overlap) {
          // More new deliveries than one page: start over from the newest.
          deliveries = std::move(fresh);
          next_cursor = JOptStr(r.body, "next_cursor");
          return;
        }
        const bool had_more = next_cursor.has_value() || !deliveries.empty();
        for (Delivery& d : deliveries) {
          if (!fresh_ids.count(d.id)) fresh.push_back(std::move(d));
        }
        deliveries = std::move(fresh);
        if (!had_more) next_cursor = JOptStr(r.body, "next_cursor");
      });
}

void DetailsScreen::Select(ScreenContext& ctx, const std::string& delivery_id) {
  if (selected_id != delivery_id) {
    selected.reset();
    selected_attempt = -1;
  }
  selected_id = delivery_id;
  LoadSelected(ctx);
}

void DetailsScreen::LoadSelected(ScreenContext& ctx) {
  if (selected_id.empty()) return;
  selected_loading = true;
  const std::string want = selected_id;
  ctx.api->Get("/api/v1/deliveries/" + want, [this, want](const ApiResponse& r) {
    if (want != selected_id) return;
    selected_loading = false;
    if (!r.ok()) {
      selected_error = r.error;
      return;
    }
    selected_error.clear();
    selected = ParseDelivery(r.body);
    sent_body.clear();
    sent_headers.clear();
    if (r.body.is_object() && r.body.contains("request") && r.body["request"].is_object()) {
      const Json& request = r.body["request"];
      sent_body = JStr(request, "body");
      if (request.contains("headers") && request["headers"].is_array()) {
        for (const Json& h : request["headers"]) {
          if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
            sent_headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
          }
        }
      }
    }
    // Keep the history row in step with what the inspector shows.
    for (Delivery& d : deliveries) {
      if (d.id == selected->id) {
        Delivery row = *selected;
        row.attempts.clear();
        d = std::move(row);
      }
    }
  });
}

void DetailsScreen::Tick(ScreenContext& ctx) {
  if (webhook && live) charts.Tick(ctx, id);
  if (!live || !history_loaded || history_loading || refreshing) return;
  if (ctx.now_ms - last_refresh_ms < kLiveRefreshMs) return;
  RefreshHistory(ctx);
  if (selected && !selected_loading &&
      (selected->status != DeliveryStatus::kSucceeded &&
       selected->status != DeliveryStatus::kExhausted &&
       selected->status != DeliveryStatus::kCancelled)) {
    LoadSelected(ctx);
  }
}

void DetailsScreen::Draw(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  ui.SetField("webhook_id", id);
  ui.SetField("loading", loading);
  if (loading) {
    ImGui::TextDisabled("Loading webhook");
    ImGui::SameLine();
    Spinner();
    return;
  }
  if (!webhook) {
    ErrorText(error);
    ui.SetField("error", error);
    if (NamedButton(ui, "back", "Back to webhooks")) ctx.go("/webhooks");
    return;
  }
  DrawHeader(ctx);
  DrawDisabledBanner(ctx);
  DrawConfig(ctx);
  ImGui::Spacing();
  // A click on an hour shows its deliveries; a click on the same hour again shows all.
  if (const auto hour = charts.Draw(ctx, id, hour_filter)) {
    hour_filter = hour == hour_filter ? std::nullopt : hour;
    ReloadHistory(ctx);
  }
  ImGui::Spacing();

  const float avail = ImGui::GetContentRegionAvail().x;
  ImGui::BeginChild("history_pane", ImVec2(avail * 0.56f, 0), ImGuiChildFlags_None);
  DrawHistory(ctx);
  ImGui::EndChild();
  ImGui::SameLine();
  ImGui::BeginChild("inspector_pane", ImVec2(0, 0), ImGuiChildFlags_Border);
  DrawInspector(ctx);
  ImGui::EndChild();
  DrawModals(ctx);
}

void DetailsScreen::DrawHeader(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const Webhook& w = *webhook;
  if (NamedButton(ui, "back", "< Webhooks")) ctx.go("/webhooks");
  ImGui::SameLine();
  // The actions on the right always fit: the URL gets what is left (cut in the middle, whole on
  // hover), as does the status.
  const float right = ImGui::GetFontSize() * 33.0f;
  const float status_w = ImGui::CalcTextSize("Inactive").x + ImGui::GetStyle().ItemSpacing.x * 2;
  const float url_room =
      std::max(ImGui::GetFontSize() * 6.0f,
               ImGui::GetContentRegionMax().x - right - status_w - ImGui::GetCursorPosX());
  ui.SetField("title_elided", ElidedText(w.url, url_room));
  ui.RecordLastItem("title");
  ImGui::SameLine();
  if (w.active) {
    ImGui::TextColored(kOkColor, "Active");
  } else if (w.disabled_reason) {
    ImGui::TextColored(kErrorColor, "Disabled");  // why: in the banner below
  } else {
    ImGui::TextColored(kMutedColor, "Inactive");
  }
  ImGui::SameLine();
  ImGui::SetCursorPosX(std::max(ImGui::GetCursorPosX(), ImGui::GetContentRegionMax().x - right));
  // A viewer's console shows what it may do: reading, no buttons that would answer 403.
  if (!ctx.can_write) {
    ImGui::TextDisabled("Read only: signed in with a viewer token");
    ui.RecordLastItem("read_only");
  } else {
    if (NamedButton(ui, "edit", "Edit")) ctx.go("/webhooks/" + id + "/edit");
    ImGui::SameLine();
    if (NamedButton(ui, "send_test", "Send test event", !action_busy)) {
      action_busy = true;
      const uint64_t gen = generation;
      ScreenContext* c = &ctx;
      ctx.api->Send("POST", "/api/v1/webhooks/" + id + "/test", Json::object(),
                    [this, gen, c](const ApiResponse& r) {
                      if (gen != generation) return;
                      action_busy = false;
                      if (!r.ok()) {
                        c->error("Test event not sent: " + r.error);
                        return;
                      }
                      c->notice("Test event queued");
                      RefreshHistory(*c);
                    });
    }
    ImGui::SameLine();
    if (NamedButton(ui, "recover", "Recover since...", !action_busy)) {
      recover_since = FormatTimestamp(ctx.now_ms - 24 * 3'600'000LL);
      open_recover = true;
    }
    ImGui::SameLine();
    if (NamedButton(ui, "delete", "Delete...", !action_busy)) open_delete = true;
  }
  ImGui::Separator();

  ui.SetField("url", w.url);
  ui.SetField("active", w.active);
  ui.SetField("disabled_reason",
              w.disabled_reason ? nlohmann::json(*w.disabled_reason) : nlohmann::json(nullptr));
  ui.SetField("events", w.events);
  ui.SetField("has_secret", w.secret.has_value());
  ui.SetField("description",
              w.description ? nlohmann::json(*w.description) : nlohmann::json(nullptr));
}

// A webhook webhookd switched off (auto-disable after days of failures, a 410 Gone) says so at the
// top, with what to do: enable it again (the modal asks what becomes of what waits) and send
// again what failed while it was failing.
void DetailsScreen::DrawDisabledBanner(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const Webhook& w = *webhook;
  if (w.active || !w.disabled_reason) return;
  ImGui::PushStyleColor(ImGuiCol_ChildBg, ImVec4(0.45f, 0.14f, 0.13f, 0.55f));
  ImGui::BeginChild("disabled_banner", ImVec2(0, 0),
                    ImGuiChildFlags_Border | ImGuiChildFlags_AutoResizeY);
  ImGui::TextColored(kErrorColor, "webhookd disabled this webhook %s",
                     RelativeTime(ctx.now_ms, w.updated_at).c_str());
  ImGui::SameLine();
  ImGui::PushTextWrapPos(0.0f);
  TextView(*w.disabled_reason);
  ImGui::PopTextWrapPos();
  if (ctx.can_write) {
    if (NamedButton(ui, "enable_webhook", "Enable...", !action_busy)) open_enable = true;
    ImGui::SameLine();
    if (NamedButton(ui, "recover_disabled", "Recover failed deliveries...", !action_busy)) {
      // The failing spell: the auto-disable period (5 days by default) before it was disabled.
      recover_since = FormatTimestamp(w.updated_at - kFailingSpellMs);
      open_recover = true;
    }
  } else {
    ImGui::TextDisabled("An admin can enable it again.");
  }
  ImGui::EndChild();
  ui.RecordLastItem("disabled_banner");
  ImGui::PopStyleColor();
}

void DetailsScreen::Enable(ScreenContext& ctx, bool cancel_backlog) {
  action_busy = true;
  const uint64_t gen = generation;
  ScreenContext* c = &ctx;
  auto enable = [this, gen, c]() {
    c->api->Send("PATCH", "/api/v1/webhooks/" + id, Json{{"active", true}},
                 [this, gen, c](const ApiResponse& r) {
                   if (gen != generation) return;
                   action_busy = false;
                   if (!r.ok()) {
                     c->error("Could not enable the webhook: " + r.error);
                     return;
                   }
                   webhook = ParseWebhook(r.body);
                   c->notice("Webhook enabled");
                   RefreshHistory(*c);
                 });
  };
  if (!cancel_backlog) {
    enable();
    return;
  }
  // Cancelled before the webhook is switched on, so none of the backlog can go out between.
  ctx.api->Send(
      "POST", "/api/v1/webhooks/" + id + "/cancel-pending", Json::object(),
      [this, gen, c, enable](const ApiResponse& r) {
        if (gen != generation) return;
        if (!r.ok()) {
          action_busy = false;
          c->error("Could not cancel the backlog: " + r.error);
          return;
        }
        c->notice("Cancelled " + std::to_string(JInt(r.body, "cancelled")) + " queued deliveries");
        enable();
      });
}

void DetailsScreen::DrawConfig(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const Webhook& w = *webhook;
  const float label_w = ImGui::GetFontSize() * 8.5f;

  ImGui::TextDisabled("Events");
  ImGui::SameLine(label_w);
  std::string names;
  for (const std::string& e : w.events) {
    if (!names.empty()) names += ", ";
    names += e;
  }
  ImGui::PushTextWrapPos(ImGui::GetContentRegionMax().x);
  ImGui::Text("%d: %s", static_cast<int>(w.events.size()), names.c_str());
  ImGui::PopTextWrapPos();

  if (w.description && !w.description->empty()) {
    ImGui::TextDisabled("Description");
    ImGui::SameLine(label_w);
    TextView(*w.description);
  }
  ImGui::TextDisabled("Created");
  ImGui::SameLine(label_w);
  ImGui::Text("%s   updated %s   id %s", ShortTime(w.created_at).c_str(),
              RelativeTime(ctx.now_ms, w.updated_at).c_str(), w.id.c_str());

  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Secret");
  ImGui::SameLine(label_w);
  if (!shown_secret.empty()) {
    std::string shown = shown_secret;
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 26.0f);
    ImGui::InputText("##secret_value", &shown, ImGuiInputTextFlags_ReadOnly);
    ui.RecordLastItem("secret_value");
    ImGui::SameLine();
    if (NamedButton(ui, "copy_secret", "Copy")) {
      ImGui::SetClipboardText(shown_secret.c_str());
      ctx.notice("Secret copied to the clipboard");
    }
    ImGui::SameLine();
    if (NamedButton(ui, "hide_secret", shown_secret_once ? "I saved it" : "Hide")) {
      shown_secret.clear();
      shown_secret_once = false;
    }
    if (shown_secret_once) {
      ImGui::SameLine();
      // True to what webhookd does: the secret can be read again, by an admin, on the record.
      ImGui::TextColored(kWarnColor, "Copy it now; later only an admin can reveal it (audited).");
    }
    if (!previous_valid_until.empty()) {
      ImGui::SameLine();
      ImGui::TextDisabled("(%s)", previous_valid_until.c_str());
    }
  } else if (w.secret) {
    ImGui::TextUnformatted("set (whsec_\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2)");
    if (ctx.can_write) ImGui::SameLine();
    if (ctx.can_write && NamedButton(ui, "reveal_secret", "Reveal", !secret_busy)) {
      secret_busy = true;
      const uint64_t gen = generation;
      ScreenContext* c = &ctx;
      ctx.api->Get("/api/v1/webhooks/" + id + "/secret", [this, gen, c](const ApiResponse& r) {
        if (gen != generation) return;
        secret_busy = false;
        if (!r.ok()) {
          c->error("Could not reveal the secret: " + r.error);
          return;
        }
        shown_secret = JStr(r.body, "secret");
        shown_secret_once = false;
      });
    }
    if (ctx.can_write) ImGui::SameLine();
    if (ctx.can_write && NamedButton(ui, "rotate_secret", "Rotate...", !secret_busy)) {
      open_rotate = true;
    }
  } else {
    ImGui::TextColored(kWarnColor, "none: deliveries are not signed");
    if (ctx.can_write) ImGui::SameLine();
    if (ctx.can_write && NamedButton(ui, "rotate_secret", "Add a secret", !secret_busy)) {
      open_rotate = true;
    }
  }
  ui.SetField("secret_shown",
              shown_secret.empty() ? nlohmann::json(nullptr) : nlohmann::json(shown_secret));
  ui.SetField("secret_once", shown_secret_once);
  ui.SetField("previous_secrets", previous_valid_until);
  DrawHeadersConfig(ctx);
  DrawVerifySnippet(ctx);
}

void DetailsScreen::DrawHeadersConfig(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const Webhook& w = *webhook;
  const float label_w = ImGui::GetFontSize() * 8.5f;
  ImGui::AlignTextToFramePadding();
  ImGui::TextDisabled("Headers");
  ImGui::SameLine(label_w);
  if (w.rate_limit_per_second) {
    ImGui::Text("rate limit %d/s;", *w.rate_limit_per_second);
    ImGui::SameLine();
  }
  if (w.headers.empty()) {
    ImGui::TextDisabled("no custom headers");
    ui.SetField("headers_shown", nullptr);
    return;
  }
  const Headers& shown = revealed_headers ? *revealed_headers : w.headers;
  std::string line;
  for (const auto& [name, value] : shown) {
    if (!line.empty()) line += ", ";
    line += name + ": " + (revealed_headers ? value : std::string(kMaskedHeaderValue));
  }
  TextView(line);
  ui.RecordLastItem("headers_line");
  if (revealed_headers || ctx.can_write) ImGui::SameLine();
  if (revealed_headers) {
    if (NamedButton(ui, "hide_headers", "Hide##headers")) revealed_headers.reset();
  } else if (ctx.can_write && NamedButton(ui, "reveal_headers", "Reveal##headers", !headers_busy)) {
    // Revealing is audited by webhookd, like the secret.
    headers_busy = true;
    const uint64_t gen = generation;
    ScreenContext* c = &ctx;
    ctx.api->Get("/api/v1/webhooks/" + id + "/headers", [this, gen, c](const ApiResponse& r) {
      if (gen != generation) return;
      headers_busy = false;
      if (!r.ok()) {
        c->error("Could not reveal the headers: " + r.error);
        return;
      }
      Headers values;
      if (r.body.is_object() && r.body.contains("headers") && r.body["headers"].is_object()) {
        for (const auto& [name, value] : r.body["headers"].items()) {
          values.emplace_back(name, value.is_string() ? value.get<std::string>() : "");
        }
      }
      revealed_headers = std::move(values);
    });
  }
  nlohmann::json fields = nlohmann::json::object();
  for (const auto& [name, value] : shown) {
    fields[name] = revealed_headers ? value : std::string(kMaskedHeaderValue);
  }
  ui.SetField("headers_shown", fields);
}

void DetailsScreen::DrawVerifySnippet(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  const bool open = ImGui::CollapsingHeader("Verify deliveries in your receiver");
  ui.RecordLastItem("verify_snippet_header");
  ui.SetField("verify_snippet_open", open);
  if (!open) return;
  ImGui::TextWrapped(
      "Every delivery is signed as Standard Webhooks specifies (headers webhook-id, "
      "webhook-timestamp, webhook-signature): check it with the webhook's secret over the raw "
      "body before trusting it.");
  for (size_t i = 0; i < std::size(kVerifySnippets); ++i) {
    if (i > 0) ImGui::SameLine();
    if (ImGui::RadioButton(kVerifySnippets[i].language, verify_language == static_cast<int>(i))) {
      verify_language = static_cast<int>(i);
    }
    ui.RecordLastItem(std::string("verify_language:") + kVerifySnippets[i].language);
  }
  const std::string text =
      VerifySnippetText(static_cast<size_t>(verify_language), webhook->headers);
  std::string shown = text;
  ImGui::InputTextMultiline("##verify_snippet", &shown,
                            ImVec2(-1, ImGui::GetTextLineHeight() * 16.5f),
                            ImGuiInputTextFlags_ReadOnly);
  ui.RecordLastItem("verify_snippet");
  ui.SetField("verify_language", kVerifySnippets[verify_language].language);
  if (NamedButton(ui, "copy_verify_snippet", "Copy code")) {
    browser::CopyToClipboard(text);
    ctx.notice("Receiver code copied to the clipboard");
  }
  ImGui::SameLine();
  ImGui::TextDisabled("Complete receivers: docs/verify/ in the webhookd repository.");
}

void DetailsScreen::DrawSentRequest(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  ui.SetField("sent_body", sent_body.empty() ? nlohmann::json(nullptr) : nlohmann::json(sent_body));
  if (sent_body.empty()) return;
  const bool open = ImGui::CollapsingHeader("Payload sent", ImGuiTreeNodeFlags_DefaultOpen);
  ui.RecordLastItem("payload_header");
  if (!open) return;
  // Pretty for reading; the copy is the exact bytes, which is what a signature covers.
  const auto parsed = ParseJson(sent_body);
  std::string pretty = parsed ? DumpJson(*parsed, 2) : sent_body;
  ImGui::InputTextMultiline("##payload", &pretty, ImVec2(-1, ImGui::GetFontSize() * 10.0f),
                            ImGuiInputTextFlags_ReadOnly);
  ui.RecordLastItem("payload");
  if (NamedButton(ui, "copy_payload", "Copy body")) {
    browser::CopyToClipboard(sent_body);
    ctx.notice("Body copied to the clipboard (the exact bytes that were signed)");
  }
  ImGui::SameLine();
  const bool can_curl = webhook.has_value() && !sent_headers.empty();
  if (NamedButton(ui, "copy_curl", "Copy as curl", can_curl)) {
    browser::CopyToClipboard(CurlCommand(webhook->url, sent_headers, sent_body));
    ctx.notice("curl command copied to the clipboard");
  }
  if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled)) {
    ImGui::SetTooltip(
        "Sends the same bytes with the same headers. The signature is as old as the attempt, so "
        "a receiver that checks timestamps refuses it after 5 minutes; custom header values are "
        "masked: fill them in.");
  }
}

void DetailsScreen::DrawHistory(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  ImGui::AlignTextToFramePadding();
  ImGui::TextUnformatted("Delivery history");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 10.0f);
  if (ImGui::BeginCombo("##status_filter", kStatusNames[status_filter])) {
    for (int i = 0; i < static_cast<int>(std::size(kStatusNames)); ++i) {
      if (ImGui::Selectable(kStatusNames[i], i == status_filter)) {
        status_filter = i;
        ReloadHistory(ctx);
      }
      ui.RecordLastItem(std::string("status_option:") + kStatusNames[i]);
    }
    ImGui::EndCombo();
  }
  ui.RecordLastItem("status_filter");
  ImGui::SameLine();
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 12.0f);
  if (ImGui::BeginCombo("##event_filter",
                        event_filter.empty() ? "All events" : event_filter.c_str())) {
    std::vector<std::string> options{""};
    for (const std::string& e : webhook->events) options.push_back(e);
    options.emplace_back(kTestEventType);
    for (const std::string& o : options) {
      if (ImGui::Selectable(o.empty() ? "All events" : o.c_str(), o == event_filter)) {
        event_filter = o;
        ReloadHistory(ctx);
      }
      ui.RecordLastItem("event_option:" + (o.empty() ? std::string("all") : o));
    }
    ImGui::EndCombo();
  }
  ui.RecordLastItem("event_filter");
  ImGui::SameLine();
  ImGui::Checkbox("Live", &live);
  ui.RecordLastItem("live");
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("Refresh every 2 s");
  ImGui::SameLine();
  if (NamedButton(ui, "refresh_history", "Refresh", !history_loading && !refreshing)) {
    RefreshHistory(ctx);
  }
  ImGui::SameLine();
  if (history_loading || refreshing) {
    Spinner();
  } else {
    ImGui::TextDisabled("%d%s loaded", static_cast<int>(deliveries.size()), next_cursor ? "+" : "");
  }
  if (hour_filter) {
    const std::string from = FormatTimestamp(*hour_filter);
    ImGui::TextColored(kAccentColor, "Attempted %s %s-%sZ", from.substr(0, 10).c_str(),
                       from.substr(11, 5).c_str(),
                       FormatTimestamp(*hour_filter + 3'600'000).substr(11, 5).c_str());
    ImGui::SameLine();
    if (NamedButton(ui, "clear_hour", "Show all hours")) {
      hour_filter.reset();
      ReloadHistory(ctx);
    }
  }
  ui.SetField("hour_filter", hour_filter ? Json(FormatTimestamp(*hour_filter)) : Json(nullptr));
  if (!history_error.empty()) ErrorText(history_error);

  if (history_loaded && deliveries.empty()) {
    ImGui::TextDisabled(status_filter || !event_filter.empty() || hour_filter
                            ? "No delivery matches these filters."
                            : "No deliveries yet. Send a test event to see one here.");
  }

  constexpr ImGuiTableFlags kTable = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerH |
                                     ImGuiTableFlags_ScrollY | ImGuiTableFlags_SizingStretchProp;
  int visible_from = -1, visible_to = -1;
  if (ImGui::BeginTable("history", 5, kTable, ImVec2(0, 0))) {
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("Status", ImGuiTableColumnFlags_WidthStretch, 1.6f);
    ImGui::TableSetupColumn("Event", ImGuiTableColumnFlags_WidthStretch, 2.2f);
    ImGui::TableSetupColumn("Tries", ImGuiTableColumnFlags_WidthStretch, 0.6f);
    ImGui::TableSetupColumn("Created", ImGuiTableColumnFlags_WidthStretch, 1.2f);
    ImGui::TableSetupColumn("Next try", ImGuiTableColumnFlags_WidthStretch, 1.0f);
    ImGui::TableHeadersRow();
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(deliveries.size()));
    while (clipper.Step()) {
      for (int i = clipper.DisplayStart; i < clipper.DisplayEnd; ++i) {
        const Delivery& d = deliveries[i];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::PushID(i);
        const std::string text = DeliveryResultText(d, ctx.now_ms, webhook->active);
        ImGui::PushStyleColor(ImGuiCol_Text, StatusColor(d.status));
        if (ImGui::Selectable(text.c_str(), d.id == selected_id,
                              ImGuiSelectableFlags_SpanAllColumns)) {
          Select(ctx, d.id);
        }
        ImGui::PopStyleColor();
        ui.RecordLastItem("delivery:" + d.id);
        const bool row_visible = ImGui::IsItemVisible();
        ImGui::PopID();
        ImGui::TableNextColumn();
        TextView(d.event_type);
        ImGui::TableNextColumn();
        ImGui::Text("%d", d.attempt_count);
        ImGui::TableNextColumn();
        TextView(RelativeTime(ctx.now_ms, d.created_at));
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", FormatTimestamp(d.created_at).c_str());
        ImGui::TableNextColumn();
        if (d.status == DeliveryStatus::kPending || d.status == DeliveryStatus::kFailed) {
          // A paused delivery has no next try until the webhook is switched on again.
          if (webhook->active) {
            TextView(RelativeTime(ctx.now_ms, d.next_attempt_at));
          } else {
            ImGui::TextDisabled("paused");
          }
        } else {
          ImGui::TextDisabled("-");
        }
        // The clipper's first step lays out row 0 to measure it even when it is scrolled away.
        if (!row_visible) continue;
        if (visible_from < 0) visible_from = i;
        visible_to = i;
        ui.AddListItem("deliveries", {{"id", d.id},
                                      {"status", ToString(d.status)},
                                      {"label", text},
                                      {"http_status", OptInt(d.last_http_status)},
                                      {"event_type", d.event_type},
                                      {"attempts", d.attempt_count}});
      }
    }
    ui.SetField("history_scroll", {{"y", ImGui::GetScrollY()}, {"max", ImGui::GetScrollMaxY()}});
    // Endless history: the next page loads before the end scrolls into view.
    if (next_cursor && !history_loading && history_loaded &&
        clipper.DisplayEnd >= static_cast<int>(deliveries.size()) - 60) {
      LoadHistoryPage(ctx, *next_cursor);
    }
    ImGui::EndTable();
  }
  first_visible = visible_from;
  ui.SetField("deliveries_loaded", deliveries.size());
  ui.SetField("deliveries_more", next_cursor.has_value());
  ui.SetField("deliveries_first_visible", visible_from);
  ui.SetField("deliveries_last_visible", visible_to);
  ui.SetField("history_loading", history_loading || refreshing);
  ui.SetField("history_loaded", history_loaded);
  ui.SetField("live", live);
  ui.SetField("status_filter", kStatusNames[status_filter]);
  ui.SetField("event_filter", event_filter);
}

void DetailsScreen::DrawInspector(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  ui.SetField("selected_delivery",
              selected_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(selected_id));
  if (selected_id.empty()) {
    ImGui::TextDisabled("Select a delivery to inspect its attempts.");
    return;
  }
  if (!selected) {
    if (!selected_error.empty()) {
      ErrorText(selected_error);
    } else {
      ImGui::TextDisabled("Loading delivery");
      ImGui::SameLine();
      Spinner();
    }
    return;
  }
  const Delivery& d = *selected;
  ImGui::Text("Delivery %s", d.id.c_str());
  ImGui::TextDisabled("Event");
  ImGui::SameLine();
  ImGui::Text("%s  (%s)", d.event_type.c_str(), d.event_id.c_str());
  ImGui::TextDisabled("Status");
  ImGui::SameLine();
  const std::string state = DeliveryResultText(d, ctx.now_ms, webhook->active);
  ImGui::TextColored(StatusColor(d.status), "%s", state.c_str());
  ui.SetField("selected_label", state);
  if (ctx.can_write &&
      NamedButton(ui, "resend", "Resend", !action_busy && d.status != DeliveryStatus::kInFlight)) {
    action_busy = true;
    const uint64_t gen = generation;
    const std::string did = d.id;
    ScreenContext* c = &ctx;
    ctx.api->Send("POST", "/api/v1/deliveries/" + did + "/resend", Json::object(),
                  [this, gen, c](const ApiResponse& r) {
                    if (gen != generation) return;
                    action_busy = false;
                    if (!r.ok()) {
                      c->error("Resend failed: " + r.error);
                      return;
                    }
                    c->notice("Resend queued");
                    selected_attempt = -1;
                    LoadSelected(*c);
                    RefreshHistory(*c);
                  });
  }
  if (selected_loading) {
    ImGui::SameLine();
    Spinner();
  }
  ImGui::Separator();

  ui.SetField("delivery", {{"id", d.id},
                           {"status", ToString(d.status)},
                           {"attempt_count", d.attempt_count},
                           {"http_status", OptInt(d.last_http_status)}});
  if (d.attempts.empty()) {
    ImGui::TextDisabled("No attempt yet: it is queued.");
    return;
  }
  // Attempts, newest selected by default.
  const int n = static_cast<int>(d.attempts.size());
  int newest = 0;
  for (int i = 1; i < n; ++i) {
    if (d.attempts[i].number > d.attempts[newest].number) newest = i;
  }
  const int shown = selected_attempt >= 0 && selected_attempt < n ? selected_attempt : newest;
  ImGui::TextDisabled("Attempts");
  for (int i = 0; i < n; ++i) {
    const DeliveryAttempt& a = d.attempts[i];
    ImGui::SameLine();
    std::string label =
        "#" + std::to_string(a.number) + " " +
        (a.http_status ? std::to_string(*a.http_status) : std::string(ToString(a.cause)));
    ImGui::PushID(i);
    if (ImGui::Selectable(label.c_str(), i == shown, 0, ImGui::CalcTextSize(label.c_str()))) {
      selected_attempt = i;
    }
    ImGui::PopID();
    ui.RecordLastItem("attempt:" + std::to_string(a.number));
    ui.AddListItem("attempts",
                   {{"number", a.number},
                    {"http_status", OptInt(a.http_status)},
                    {"cause", a.cause == FailureCause::kNone ? nlohmann::json(nullptr)
                                                             : nlohmann::json(ToString(a.cause))},
                    {"duration_ms", a.duration_ms}});
  }
  const DeliveryAttempt& a = d.attempts[shown];
  ImGui::Spacing();
  ImGui::Text("Attempt #%d at %s, took %lld ms", a.number, ShortTime(a.started_at).c_str(),
              static_cast<long long>(a.duration_ms));
  if (a.http_status) {
    const bool ok = *a.http_status >= 200 && *a.http_status < 300;
    ImGui::TextColored(ok ? kOkColor : kWarnColor, "HTTP %d", *a.http_status);
  } else {
    ImGui::TextColored(kErrorColor, "Failed: %s", std::string(ToString(a.cause)).c_str());
  }
  if (!a.error.empty()) {
    ImGui::SameLine();
    ErrorText(a.error);
  }
  nlohmann::json req_names = nlohmann::json::array();
  for (const auto& [name, value] : a.request_headers) req_names.push_back(name);
  ui.SetField("attempt", {{"number", a.number},
                          {"http_status", OptInt(a.http_status)},
                          {"duration_ms", a.duration_ms},
                          {"request_headers", req_names},
                          {"response_excerpt", a.response_excerpt}});

  auto headers_table = [](const char* table_id, const Headers& headers) {
    if (headers.empty()) {
      ImGui::TextDisabled("none");
      return;
    }
    if (ImGui::BeginTable(table_id, 2,
                          ImGuiTableFlags_BordersInnerH | ImGuiTableFlags_SizingStretchProp)) {
      ImGui::TableSetupColumn("name", ImGuiTableColumnFlags_WidthStretch, 1.0f);
      ImGui::TableSetupColumn("value", ImGuiTableColumnFlags_WidthStretch, 2.4f);
      for (const auto& [name, value] : headers) {
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        ImGui::TextDisabled("%s", name.c_str());
        ImGui::TableNextColumn();
        ImGui::PushTextWrapPos(0.0f);
        TextView(value);
        ImGui::PopTextWrapPos();
      }
      ImGui::EndTable();
    }
  };
  DrawSentRequest(ctx);
  if (ImGui::CollapsingHeader("Request headers sent", ImGuiTreeNodeFlags_DefaultOpen)) {
    headers_table("req_headers", a.request_headers);
  }
  ui.RecordLastItem("request_headers");
  if (ImGui::CollapsingHeader("Response headers")) {
    headers_table("resp_headers", a.response_headers);
    if (a.response_headers_truncated) {
      ImGui::TextDisabled("(the first %d headers or %d KiB kept)",
                          static_cast<int>(kMaxStoredResponseHeaders),
                          static_cast<int>(kMaxStoredResponseHeaderBytes / 1024));
    }
  }
  if (ImGui::CollapsingHeader("Response body", ImGuiTreeNodeFlags_DefaultOpen)) {
    if (a.response_excerpt.empty()) {
      ImGui::TextDisabled("empty");
    } else {
      std::string body = a.response_excerpt;
      ImGui::InputTextMultiline("##response", &body, ImVec2(-1, ImGui::GetFontSize() * 8.0f),
                                ImGuiInputTextFlags_ReadOnly);
      if (a.response_truncated) ImGui::TextDisabled("(first %d KiB shown)", 16);
    }
  }
}

void DetailsScreen::DrawModals(ScreenContext& ctx) {
  UiState& ui = *ctx.ui;
  if (open_delete) ImGui::OpenPopup("Delete webhook?");
  if (open_recover) ImGui::OpenPopup("Recover deliveries");
  if (open_rotate) ImGui::OpenPopup("Rotate secret?");
  if (open_enable) ImGui::OpenPopup("Enable webhook?");
  open_delete = open_recover = open_rotate = open_enable = false;
  const ImVec2 center = ImGui::GetMainViewport()->GetCenter();
  constexpr ImGuiWindowFlags kModal = ImGuiWindowFlags_AlwaysAutoResize;

  ImGui::SetNextWindowPos(center, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  if (ImGui::BeginPopupModal("Delete webhook?", nullptr, kModal)) {
    ui.SetField("modal", "delete");
    ImGui::Text("Delete the webhook for %s?", webhook->url.c_str());
    ImGui::TextDisabled("Its delivery history goes with it. This cannot be undone.");
    ImGui::Spacing();
    if (NamedButton(ui, "confirm_delete", "Delete webhook", !action_busy)) {
      action_busy = true;
      const uint64_t gen = generation;
      ScreenContext* c = &ctx;
      ctx.api->Send("DELETE", "/api/v1/webhooks/" + id, std::nullopt,
                    [this, gen, c](const ApiResponse& r) {
                      if (gen != generation) return;
                      action_busy = false;
                      if (!r.ok()) {
                        c->error("Delete failed: " + r.error);
                        return;
                      }
                      c->notice("Webhook deleted");
                      c->go("/webhooks");
                    });
      ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (NamedButton(ui, "cancel_delete", "Cancel") || ImGui::IsKeyPressed(ImGuiKey_Escape)) {
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
  }

  ImGui::SetNextWindowPos(center, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  if (ImGui::BeginPopupModal("Enable webhook?", nullptr, kModal)) {
    ui.SetField("modal", "enable");
    ImGui::Text("Enable the webhook for %s again?", webhook->url.c_str());
    ImGui::TextDisabled("Deliveries that were waiting when it was disabled can go out now, or be");
    ImGui::TextDisabled("cancelled first. The failure window starts again from now.");
    ImGui::Spacing();
    if (NamedButton(ui, "enable_deliver", "Enable and deliver the backlog", !action_busy)) {
      Enable(ctx, false);
      ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (NamedButton(ui, "enable_cancel", "Cancel the backlog, then enable", !action_busy)) {
      Enable(ctx, true);
      ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (NamedButton(ui, "cancel_enable", "Keep it disabled") ||
        ImGui::IsKeyPressed(ImGuiKey_Escape)) {
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
  }

  ImGui::SetNextWindowPos(center, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  if (ImGui::BeginPopupModal("Recover deliveries", nullptr, kModal)) {
    ui.SetField("modal", "recover");
    ui.SetField("recover_since", recover_since);
    ImGui::TextUnformatted("Send again every failed delivery created since:");
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 18.0f);
    if (ImGui::IsWindowAppearing()) ImGui::SetKeyboardFocusHere();
    ImGui::InputText("##since", &recover_since);
    ui.RecordLastItem("recover_since");
    const auto since = ParseTimestamp(recover_since);
    if (!since) ErrorText("since must be an RFC 3339 time, e.g. 2026-11-29T00:00:00Z");
    if (NamedButton(ui, "confirm_recover", "Recover", since.has_value() && !action_busy)) {
      action_busy = true;
      const uint64_t gen = generation;
      ScreenContext* c = &ctx;
      ctx.api->Send(
          "POST", "/api/v1/webhooks/" + id + "/recover", Json{{"since", FormatTimestamp(*since)}},
          [this, gen, c](const ApiResponse& r) {
            if (gen != generation) return;
            action_busy = false;
            if (!r.ok()) {
              c->error("Recover failed: " + r.error);
              return;
            }
            c->notice("Recovering " + std::to_string(JInt(r.body, "requeued")) + " deliveries");
            RefreshHistory(*c);
          });
      ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (NamedButton(ui, "cancel_recover", "Cancel") || ImGui::IsKeyPressed(ImGuiKey_Escape)) {
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
  }

  ImGui::SetNextWindowPos(center, ImGuiCond_Appearing, ImVec2(0.5f, 0.5f));
  if (ImGui::BeginPopupModal("Rotate secret?", nullptr, kModal)) {
    ui.SetField("modal", "rotate");
    if (webhook->secret) {
      ImGui::TextUnformatted("webhookd makes a new secret and keeps signing with the current one");
      ImGui::TextUnformatted("for 24 hours (and with any rotated out before, until theirs end),");
      ImGui::TextUnformatted("so receivers can switch without losing events.");
    } else {
      ImGui::TextUnformatted("webhookd makes a secret; deliveries are signed from now on.");
    }
    if (NamedButton(ui, "confirm_rotate", webhook->secret ? "Rotate" : "Add secret",
                    !secret_busy)) {
      secret_busy = true;
      const uint64_t gen = generation;
      ScreenContext* c = &ctx;
      ctx.api->Send("POST", "/api/v1/webhooks/" + id + "/secret/rotate", Json::object(),
                    [this, gen, c](const ApiResponse& r) {
                      if (gen != generation) return;
                      secret_busy = false;
                      if (!r.ok()) {
                        c->error("Rotate failed: " + r.error);
                        return;
                      }
                      SetSecretOnce(JStr(r.body, "secret"), r.body);
                      if (webhook) webhook->secret = std::string();
                      c->notice("Secret rotated");
                    });
      ImGui::CloseCurrentPopup();
    }
    ImGui::SameLine();
    if (NamedButton(ui, "cancel_rotate", "Cancel") || ImGui::IsKeyPressed(ImGuiKey_Escape)) {
      ImGui::CloseCurrentPopup();
    }
    ImGui::EndPopup();
  }
}

}  // namespace mambo::web
