#pragma once
// webhookd's REST API under /api/v1: thin route handlers over the Store, one JSON error shape
// {"error": {"code", "message", "fields": [{"field", "message"}]}} for every failure, bearer
// tokens scoped to one team and one role. Validation is shared/'s, so the console and the API
// say the same thing.

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "mambo/validation.h"
#include "store/store.h"

namespace mambo::api {

struct ApiOptions {
  size_t max_body_bytes = 256 * 1024;
  // A token found active is trusted without asking the store again for this long, as long as
  // the store's TokensStamp() stays the same (so a revocation counts from the next request).
  // 0: every request looks its token up.
  int64_t token_cache_ms = 60000;
  int64_t rotation_grace_ms = 24LL * 3600 * 1000;
  size_t max_webhooks_per_team = 100;
  // POST .../test and .../resend send to a receiver on a person's click: a team gets this many
  // a minute (a bucket that refills continuously), then 429 with Retry-After.
  int sends_per_minute = 60;
  std::string version = "0.1.0";
  // Origins (scheme://host[:port]) of pages on other origins that may call the API and load the
  // console's component (CORS), and frame it (CSP frame-ancestors): the mambo console's. None by
  // default. Credentials are never allowed: the token goes in Authorization, never a cookie.
  std::vector<std::string> cors_origins;
};

// Raised by handlers to answer with an error; the server turns it into the JSON shape.
struct ApiError {
  int status;
  std::string code;
  std::string message;
  FieldErrors fields;

  static ApiError BadJson(std::string message) {
    return {400, "malformed_json", std::move(message), {}};
  }
  static ApiError Unauthorized(std::string message) {
    return {401, "unauthorized", std::move(message), {}};
  }
  static ApiError Forbidden(std::string message) {
    return {403, "forbidden", std::move(message), {}};
  }
  static ApiError NotFound(std::string what) {
    return {404, "not_found", std::move(what) + " not found", {}};
  }
  static ApiError Validation(FieldErrors fields) {
    return {422, "validation_failed", "The request has invalid fields", std::move(fields)};
  }
  static ApiError Conflict(std::string message) {
    return {409, "conflict", std::move(message), {}};
  }
  static ApiError Quota(std::string message) {
    return {422, "quota_exceeded", std::move(message), {}};
  }
  static ApiError RateLimited(std::string message, int64_t retry_after_s) {
    ApiError e{429, "rate_limited", std::move(message), {}};
    e.retry_after_s = retry_after_s;
    return e;
  }
  int64_t retry_after_s = 0;  // sent as Retry-After when > 0
};

// Per-key token buckets: `per_minute` actions a minute, refilled continuously, up to that many
// at once. In memory, per process (a restart forgives).
class RateLimiter {
 public:
  explicit RateLimiter(int per_minute) : per_minute_(per_minute) {}
  // True if `key` may act at `now_ms`; else false and how long until it may, in ms.
  bool Allow(const std::string& key, int64_t now_ms, int64_t* wait_ms);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t at = 0;
  };
  int per_minute_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

void WriteError(httplib::Response& res, const ApiError& e);
// The JSON text WriteError sends, for answers written outside httplib (the HTTP front).
std::string ErrorJson(int status, const std::string& message);

// Browser security headers on every answer (ApiServer::Register adds them to httplib's; the
// front adds them to its own). The console needs 'wasm-unsafe-eval' to compile its wasm and
// nothing inline: its script and style sheet are files (web/shell.js, web/shell.css).
const httplib::Headers& SecurityHeaders();
// The same with `frame_origins` allowed to frame webhookd's pages (none: no one may; then
// X-Frame-Options DENY too, which cannot name origins).
httplib::Headers SecurityHeaders(const std::vector<std::string>& frame_origins);
// An origin as --cors-origin takes it ("https://console.example.com", "http://127.0.0.1:8081"):
// the origin a browser sends, or nullopt with `why`.
std::optional<std::string> ParseOrigin(std::string_view text, std::string* why);

class ApiServer {
 public:
  using NowFn = std::function<int64_t()>;
  // `on_work` is called after events or resends queue deliveries (wakes the delivery engine).
  ApiServer(store::StoreRoles stores, NowFn now, ApiOptions options, std::function<void()> on_work);

  // Called after a person switched a webhook off (PATCH active:false): the operational notice.
  using SwitchedOffFn =
      std::function<void(const Webhook& webhook, const std::string& actor, int64_t at)>;
  void SetOnSwitchedOff(SwitchedOffFn fn) { on_switched_off_ = std::move(fn); }

  // Adds the /api/v1 routes and the error/exception handlers to `server`.
  void Register(httplib::Server& server);
  // Every route Register added, as (method, path pattern): the OpenAPI test holds the document
  // (api/openapi.json) to exactly these.
  struct RouteInfo {
    std::string method;
    std::string pattern;
  };
  const std::vector<RouteInfo>& routes() const { return routes_; }

 private:
  using Handler =
      std::function<void(const httplib::Request&, httplib::Response&, const store::ApiToken&)>;
  // Who may call a route: kRead admin and viewer, kWrite admin only, kIngest admin and ingest,
  // kAny every role.
  enum class Access { kRead, kWrite, kIngest, kAny };
  // Wraps a handler with authentication, the role check and ApiError translation.
  httplib::Server::Handler Route(Access access, Handler handler);
  // Registers one route on `server` and in routes_.
  void Add(httplib::Server& server, const std::string& method, const std::string& pattern,
           httplib::Server::Handler handler);
  store::ApiToken Authenticate(const httplib::Request& req, Access access);
  // Records when a token was last used, at most once a minute a token.
  void NoteUse(const store::ApiToken& token, int64_t now);
  store::AuditEntry Audit(const store::ApiToken& who, std::string action, std::string target,
                          Json before, Json after);

  void ListWebhooks(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void CreateWebhook(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void GetWebhook(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void PatchWebhook(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void DeleteWebhook(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  // The custom headers' values, which every other response masks (admin, audited).
  void RevealHeaders(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void RevealSecret(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void RotateSecret(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void ListAudit(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void IngestEvent(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void ListDeliveries(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void WebhookStats(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void GetDelivery(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void ResendDelivery(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void CancelDelivery(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void ListEvents(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void GetEvent(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void CancelPending(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void RecoverDeliveries(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void SendTestEvent(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void CreateToken(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void ListTokens(const httplib::Request&, httplib::Response&, const store::ApiToken&);
  void RevokeToken(const httplib::Request&, httplib::Response&, const store::ApiToken&);

  Webhook LoadWebhook(const store::ApiToken& who, const std::string& id);
  // The request's Origin when it is one of options_.cors_origins, else "".
  std::string AllowedOrigin(const httplib::Request& req) const;
  // Throws 429 when the team has used its sends for now.
  void ChargeSend(const store::ApiToken& who);

  // The token behind a hash, from the cache while it is valid, else from the store.
  std::optional<store::ApiToken> FindToken(const std::string& hash);

  store::ConfigStore& config_;
  store::QueueStore& queue_;
  store::HistoryStore& history_;
  NowFn now_;
  ApiOptions options_;
  // Token lookups were ~15 % of an API thread's CPU (a database read per request).
  struct CachedToken {
    store::ApiToken token;
    int64_t until = 0;
  };
  std::mutex tokens_mu_;
  std::string tokens_stamp_;  // the store's TokensStamp() the entries were found under
  std::unordered_map<std::string, CachedToken> tokens_;  // by token hash
  std::mutex used_mu_;
  std::unordered_map<std::string, int64_t> last_noted_use_;  // by token id
  RateLimiter sends_;                                        // test events and resends, by team
  std::function<void()> on_work_;
  SwitchedOffFn on_switched_off_;
  std::vector<RouteInfo> routes_;
};

// The hash under which a bearer token is stored (hex SHA-256).
std::string TokenHash(std::string_view token);
// A new bearer token: "mwh_" + 32 random bytes, base64url.
std::string NewToken();

}  // namespace mambo::api
