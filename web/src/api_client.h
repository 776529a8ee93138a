#pragma once
// The console's one way to the webhookd REST API. Owns every emscripten_fetch: requests are
// asynchronous (the frame loop never waits), answers come back as ApiResponse through a callback
// on the main thread between frames, and every failure becomes a sentence a user can read.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mambo/models.h"
#include "mambo/validation.h"

struct emscripten_fetch_t;

namespace mambo::web {

struct ApiResponse {
  int status = 0;      // HTTP status; 0 = no answer (server unreachable, network error, timeout)
  Json body;           // parsed JSON body (null when empty or not JSON)
  std::string error;   // readable message when !ok(), empty otherwise
  FieldErrors fields;  // the 422's per-field errors
  bool ok() const { return status >= 200 && status < 300; }
};

class ApiClient {
 public:
  using Callback = std::function<void(const ApiResponse&)>;

  ApiClient();
  ~ApiClient();  // the console's client lives as long as the page; requests in flight are dropped
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  void SetToken(std::string token) { token_ = std::move(token); }
  const std::string& token() const { return token_; }
  // Called (after the request's own callback) when an answer is 401: the token is no good.
  void SetOnUnauthorized(std::function<void(const ApiResponse&)> fn) {
    on_unauthorized_ = std::move(fn);
  }

  // Starts a request to `path` ("/api/v1/webhooks"), same origin. `body` is sent as JSON.
  void Send(std::string_view method, std::string_view path, std::optional<Json> body,
            Callback done);
  void Get(std::string_view path, Callback done) {
    Send("GET", path, std::nullopt, std::move(done));
  }

  int in_flight() const { return static_cast<int>(pending_.size()); }
  // What the requests in flight are doing ("GET /api/v1/webhooks"), for the progress indicator.
  std::string InFlightSummary() const;
  // False after a request got no answer at all, true again after any answer.
  bool reachable() const { return reachable_; }
  uint64_t completed() const { return completed_; }

  // Percent-encodes a query parameter value.
  static std::string Encode(std::string_view value);

 private:
  struct Pending;
  static void OnDone(::emscripten_fetch_t* fetch);
  void Finish(uint64_t id, int status, std::string body);

  std::string token_;
  std::function<void(const ApiResponse&)> on_unauthorized_;
  std::map<uint64_t, std::unique_ptr<Pending>> pending_;
  uint64_t next_id_ = 1;
  uint64_t completed_ = 0;
  bool reachable_ = true;
};

// Reading the API's JSON without exceptions (they are off in the wasm build): a missing or
// mistyped member gives the default instead of aborting the page.
std::string JStr(const Json& j, std::string_view key);
std::optional<std::string> JOptStr(const Json& j, std::string_view key);
int64_t JInt(const Json& j, std::string_view key, int64_t fallback = 0);
std::optional<int> JOptInt(const Json& j, std::string_view key);
bool JBool(const Json& j, std::string_view key, bool fallback = false);
// RFC 3339 member as Unix ms (0 when absent or unparsable).
int64_t JTime(const Json& j, std::string_view key);

Webhook ParseWebhook(const Json& j);
Delivery ParseDelivery(const Json& j);  // with attempts when the JSON has them
std::string CauseText(const Json& j, std::string_view key);

}  // namespace mambo::web
