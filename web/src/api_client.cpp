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

std::string CauseText(const Json& j, std::string_view key) {
  return JStr(j, key);
}

// Shared's readers (mambo/models.h): the one model layer; a malformed entry is an empty one.
Webhook ParseWebhook(const Json& j) {
  return WebhookFromJson(j).value_or(Webhook{});
}

Delivery ParseDelivery(const Json& j) {
  return DeliveryFromJson(j).value_or(Delivery{});
}

}  // namespace mambo::web
