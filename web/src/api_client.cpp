#include "api_client.h"

#include <emscripten/fetch.h>

#include <cstring>
#include <vector>

#include "browser.h"

namespace mambo::web {

struct ApiClient::Pending {
  ApiClient* client = nullptr;
  uint64_t id = 0;
  std::string method;
  std::string path;
  std::string body;  // must outlive the fetch
  std::vector<std::string> header_storage;
  std::vector<const char*> headers;
  Callback done;
};

namespace {

std::string DescribeStatus(int status) {
  switch (status) {
    case 400:
      return "Bad request";
    case 401:
      return "Not signed in: the token was refused";
    case 403:
      return "This token may not do that";
    case 404:
      return "Not found";
    case 409:
      return "Conflict";
    case 413:
      return "Request too large";
    case 422:
      return "Some fields need fixing";
    case 500:
      return "The server had an internal error";
    case 502:
    case 503:
    case 504:
      return "The server is unavailable";
    default:
      return "HTTP " + std::to_string(status);
  }
}

}  // namespace

ApiClient::ApiClient() = default;
ApiClient::~ApiClient() = default;

std::string ApiClient::Encode(std::string_view value) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void ApiClient::Send(std::string_view method, std::string_view path, std::optional<Json> body,
                     Callback done) {
  auto p = std::make_unique<Pending>();
  p->client = this;
  p->id = next_id_++;
  p->method = std::string(method);
  p->path = std::string(path);
  p->done = std::move(done);
  p->header_storage = {"Accept", "application/json"};
  if (!token_.empty()) {
    p->header_storage.push_back("Authorization");
    p->header_storage.push_back("Bearer " + token_);
  }
  if (body) {
    p->body = body->dump(-1, ' ', false, Json::error_handler_t::replace);
    p->header_storage.push_back("Content-Type");
    p->header_storage.push_back("application/json");
  }
  for (const std::string& h : p->header_storage) p->headers.push_back(h.c_str());
  p->headers.push_back(nullptr);

  emscripten_fetch_attr_t attr;
  emscripten_fetch_attr_init(&attr);
  std::strncpy(attr.requestMethod, p->method.c_str(), sizeof(attr.requestMethod) - 1);
  attr.attributes = EMSCRIPTEN_FETCH_LOAD_TO_MEMORY;
  attr.requestHeaders = p->headers.data();
  if (body) {
    attr.requestData = p->body.data();
    attr.requestDataSize = p->body.size();
  }
  attr.timeoutMSecs = 30000;
  attr.onsuccess = &ApiClient::OnDone;
  attr.onerror = &ApiClient::OnDone;
  // pending_ owns the Pending until its fetch completes, so the pointer stays valid until OnDone.
  attr.userData = p.get();
  const std::string url = p->path;
  const uint64_t id = p->id;
  pending_.emplace(id, std::move(p));
  emscripten_fetch(&attr, url.c_str());
}

void ApiClient::OnDone(emscripten_fetch_t* fetch) {
  const Pending* p = static_cast<const Pending*>(fetch->userData);
  const int status = fetch->status;
  std::string body;
  if (fetch->data && fetch->numBytes > 0) body.assign(fetch->data, fetch->numBytes);
  emscripten_fetch_close(fetch);
  p->client->Finish(p->id, status, std::move(body));
}

void ApiClient::Finish(uint64_t id, int status, std::string body) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::unique_ptr<Pending> p = std::move(it->second);
  pending_.erase(it);
  ++completed_;

  ApiResponse r;
  r.status = status;
  if (!body.empty()) {
    if (auto j = ParseJson(body)) r.body = std::move(*j);
  }
  reachable_ = status != 0;
  if (status == 0) {
    r.error = "Server unreachable: no answer to " + p->method + " " + p->path +
              ". Check that webhookd is running and the network is up.";
  } else if (!r.ok()) {
    r.error = DescribeStatus(status);
    if (r.body.is_object() && r.body.contains("error") && r.body["error"].is_object()) {
      const Json& e = r.body["error"];
      const std::string message = JStr(e, "message");
      if (!message.empty()) r.error = message + " (HTTP " + std::to_string(status) + ")";
      if (e.contains("fields") && e["fields"].is_array()) {
        for (const Json& f : e["fields"]) {
          r.fields.push_back({JStr(f, "field"), JStr(f, "message")});
        }
      }
    } else {
      r.error += " (HTTP " + std::to_string(status) + ")";
    }
  }
  if (p->done) p->done(r);
  if (status == 401 && on_unauthorized_) on_unauthorized_(r);
}

std::string ApiClient::InFlightSummary() const {
  std::string s;
  for (const auto& [id, p] : pending_) {
    if (!s.empty()) s += "\n";
    s += p->method + " " + p->path;
  }
  return s;
}

std::string JStr(const Json& j, std::string_view key) {
  if (!j.is_object()) return {};
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::optional<std::string> JOptStr(const Json& j, std::string_view key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

int64_t JInt(const Json& j, std::string_view key, int64_t fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return fallback;
  return it->is_number_float() ? static_cast<int64_t>(it->get<double>()) : it->get<int64_t>();
}

std::optional<int> JOptInt(const Json& j, std::string_view key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return static_cast<int>(it->get<int64_t>());
}

bool JBool(const Json& j, std::string_view key, bool fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

int64_t JTime(const Json& j, std::string_view key) {
  auto s = JOptStr(j, key);
  if (!s) return 0;
  return ParseTimestamp(*s).value_or(0);
}

namespace {
Headers ParseHeaders(const Json& j, std::string_view key) {
  Headers out;
  if (!j.is_object()) return out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return out;
  for (const Json& h : *it) {
    if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
      out.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
    } else if (h.is_object()) {
      out.emplace_back(JStr(h, "name"), JStr(h, "value"));
    }
  }
  return out;
}

FailureCause ParseCause(const Json& j, std::string_view key) {
  if (!j.is_object()) return FailureCause::kNone;
  auto it = j.find(key);
  if (it == j.end() || !(it->is_string() || it->is_null())) return FailureCause::kNone;
  FailureCause c = FailureCause::kNone;
  from_json(*it, c);  // the enum's table: unknown strings map to kNone, never throw
  return c;
}
}  // namespace

std::string CauseText(const Json& j, std::string_view key) {
  return JStr(j, key);
}

Webhook ParseWebhook(const Json& j) {
  Webhook w;
  w.id = JStr(j, "id");
  w.team_id = JStr(j, "team_id");
  w.url = JStr(j, "url");
  if (j.is_object() && j.contains("events") && j["events"].is_array()) {
    for (const Json& e : j["events"]) {
      if (e.is_string()) w.events.push_back(e.get<std::string>());
    }
  }
  if (JBool(j, "has_secret")) w.secret = std::string();  // set, value unknown to the console
  w.active = JBool(j, "active", true);
  w.description = JOptStr(j, "description");
  w.disabled_reason = JOptStr(j, "disabled_reason");
  w.rate_limit_per_second = JOptInt(j, "rate_limit_per_second");
  // Names only: every response masks the values.
  if (j.is_object() && j.contains("headers") && j["headers"].is_object()) {
    for (const auto& [name, value] : j["headers"].items()) {
      w.headers.emplace_back(name, value.is_string() ? value.get<std::string>() : "");
    }
  }
  w.created_at = JTime(j, "created_at");
  w.updated_at = JTime(j, "updated_at");
  return w;
}

Delivery ParseDelivery(const Json& j) {
  Delivery d;
  d.id = JStr(j, "id");
  d.webhook_id = JStr(j, "webhook_id");
  d.event_id = JStr(j, "event_id");
  d.event_type = JStr(j, "event_type");
  d.status = ParseDeliveryStatus(JStr(j, "status")).value_or(DeliveryStatus::kPending);
  d.attempt_count = static_cast<int>(JInt(j, "attempt_count"));
  d.created_at = JTime(j, "created_at");
  d.updated_at = JTime(j, "updated_at");
  d.next_attempt_at = JTime(j, "next_attempt_at");
  d.last_http_status = JOptInt(j, "last_http_status");
  d.last_cause = ParseCause(j, "last_cause");
  if (j.is_object() && j.contains("attempts") && j["attempts"].is_array()) {
    for (const Json& a : j["attempts"]) {
      DeliveryAttempt at;
      at.id = JStr(a, "id");
      at.delivery_id = d.id;
      at.number = static_cast<int>(JInt(a, "number"));
      at.started_at = JTime(a, "started_at");
      at.duration_ms = JInt(a, "duration_ms");
      at.http_status = JOptInt(a, "http_status");
      at.cause = ParseCause(a, "cause");
      at.error = JStr(a, "error");
      at.request_headers = ParseHeaders(a, "request_headers");
      at.response_headers = ParseHeaders(a, "response_headers");
      at.response_excerpt = JStr(a, "response_excerpt");
      at.response_truncated = JBool(a, "response_truncated");
      at.response_headers_truncated = JBool(a, "response_headers_truncated");
      d.attempts.push_back(std::move(at));
    }
  }
  return d;
}

}  // namespace mambo::web
