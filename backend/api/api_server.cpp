#include "api/api_server.h"

#include <spdlog/spdlog.h>

#include <boost/url/parse.hpp>

#include "api/openapi_document.h"
#include "crypto/crypto.h"
#include "mambo/catalog.h"
#include "mambo/event_schemas.h"
#include "mambo/text.h"

namespace mambo::api {
namespace {

using httplib::Request;
using httplib::Response;
using store::ApiToken;
using store::Role;

constexpr size_t kDefaultPageSize = 50;
constexpr size_t kMaxPageSize = 200;

const char* ReasonCode(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 415:
      return "unsupported_media_type";
    case 417:
      return "expectation_failed";
    case 422:
      return "validation_failed";
    case 429:
      return "rate_limited";
    case 431:
      return "headers_too_large";
    case 501:
      return "not_implemented";
    case 503:
      return "unavailable";
    case 505:
      return "http_version_not_supported";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

void SendJson(Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(DumpJson(body), "application/json");
}

Json EventTypeJson(const EventType& t) {
  const EventSchema* schema = FindEventSchema(t.id);
  return {{"id", t.id},           {"name", t.name},
          {"purpose", t.purpose}, {"category", t.category},
          {"group", t.group},     {"schema_version", schema ? schema->version : 0}};
}

// Request bodies must be JSON: a body of another type is refused before it is read as JSON.
Json ParseBody(const Request& req, bool allow_empty) {
  if (req.body.empty()) {
    if (allow_empty) return Json::object();
    throw ApiError::BadJson("Request body is empty; expected a JSON object");
  }
  const std::string type = req.get_header_value("Content-Type");
  if (type.rfind("application/json", 0) != 0) {
    throw ApiError{415, "unsupported_media_type", "Content-Type must be application/json", {}};
  }
  std::string why;
  auto j = ParseJson(req.body, &why);
  if (!j) throw ApiError::BadJson(why.empty() ? "Request body is not valid JSON" : why);
  if (!j->is_object()) throw ApiError::BadJson("Request body must be a JSON object");
  return *j;
}

void RequireJsonBody(const Request& req) {
  ParseBody(req, false);
}

// A token as the API shows it: never its value (that is in the creation's answer only).
Json TokenJson(const ApiToken& t, const ApiToken& who) {
  const auto time = [](const std::optional<int64_t>& ms) {
    return ms ? Json(FormatTimestamp(*ms)) : Json(nullptr);
  };
  return Json{{"id", t.id},
              {"role", std::string(ToString(t.role))},
              {"description", ToValidUtf8(t.description)},
              {"created_at", FormatTimestamp(t.created_at)},
              {"expires_at", time(t.expires_at)},
              {"last_used_at", time(t.last_used_at)},
              {"current", t.id == who.id}};
}

struct PageParams {
  size_t limit = kDefaultPageSize;
  std::string cursor;
};

PageParams ReadPageParams(const Request& req) {
  PageParams p;
  FieldErrors errors;
  if (req.has_param("limit")) {
    const std::string text = req.get_param_value("limit");
    bool digits = !text.empty() && text.size() <= 4 &&
                  text.find_first_not_of("0123456789") == std::string::npos;
    const size_t v = digits ? std::stoul(text) : 0;
    if (!digits || v < 1 || v > kMaxPageSize) {
      errors.push_back({"limit", "limit must be a number from 1 to 200"});
    } else {
      p.limit = v;
    }
  }
  if (req.has_param("cursor")) {
    p.cursor = req.get_param_value("cursor");
    if (p.cursor.empty() || p.cursor.size() > 18 ||
        p.cursor.find_first_not_of("0123456789") != std::string::npos) {
      errors.push_back({"cursor", "cursor is not one this API returned"});
    }
  }
  if (!errors.empty()) throw ApiError::Validation(std::move(errors));
  return p;
}

Json SummaryJson(const store::StatsSummary& s) {
  const auto opt = [](const std::optional<int64_t>& v) { return v ? Json(*v) : Json(nullptr); };
  const int64_t total = s.succeeded + s.failed;
  return Json{
      {"succeeded", s.succeeded},
      {"failed", s.failed},
      {"success_rate", total > 0 ? Json(static_cast<double>(s.succeeded) / total) : Json(nullptr)},
      {"p50_ms", opt(s.p50_ms)},
      {"p95_ms", opt(s.p95_ms)}};
}

// An RFC 3339 query parameter, absent or not; a per-field error when it is not a time.
std::optional<int64_t> TimeParam(const Request& req, const char* name, FieldErrors& errors) {
  if (!req.has_param(name)) return std::nullopt;
  const auto at = ParseTimestamp(req.get_param_value(name));
  if (!at) {
    errors.push_back(
        {name, std::string(name) + " must be an RFC 3339 time, e.g. 2026-11-29T00:00:00Z"});
  }
  return at;
}

template <typename T>
Json PageJson(const store::Page<T>& page) {
  Json j{{"data", page.items}};
  j["next_cursor"] = page.next_cursor ? Json(*page.next_cursor) : Json(nullptr);
  return j;
}

}  // namespace

void WriteError(Response& res, const ApiError& e) {
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
  Json fields = Json::array();
  for (const auto& f : e.fields) fields.push_back(f);
  SendJson(res, e.status,
           Json{{"error", {{"code", e.code}, {"message", e.message}, {"fields", fields}}}});
}

std::string ErrorJson(int status, const std::string& message) {
  return DumpJson(Json{
      {"error", {{"code", ReasonCode(status)}, {"message", message}, {"fields", Json::array()}}}});
}

httplib::Headers SecurityHeaders(const std::vector<std::string>& frame_origins) {
  std::string ancestors;
  for (const std::string& o : frame_origins) ancestors += (ancestors.empty() ? "" : " ") + o;
  httplib::Headers h = {
      {"Content-Security-Policy",
       "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
       "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors " +
           (ancestors.empty() ? std::string("'none'") : ancestors)},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
  };
  if (frame_origins.empty()) h.emplace("X-Frame-Options", "DENY");
  return h;
}

const httplib::Headers& SecurityHeaders() {
  static const httplib::Headers kHeaders = SecurityHeaders({});
  return kHeaders;
}

std::optional<std::string> ParseOrigin(std::string_view text, std::string* why) {
  const auto fail = [&](const char* reason) -> std::optional<std::string> {
    if (why) *why = reason;
    return std::nullopt;
  };
  const auto url =
      boost::urls::parse_absolute_uri(boost::core::string_view(text.data(), text.size()));
  if (!url) return fail("is not an absolute URL such as https://console.example.com");
  const auto lower = [](std::string t) {
    for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return t;
  };
  const std::string scheme = lower(std::string(url->scheme()));
  if (scheme != "https" && scheme != "http") return fail("must be http:// or https://");
  if (url->has_userinfo()) return fail("must not carry a user or password");
  if (url->host().empty()) return fail("has no host");
  if (!url->encoded_path().empty() && url->encoded_path() != "/") {
    return fail("must be an origin only, without a path");
  }
  if (url->has_query() || url->has_fragment()) return fail("must not have a query or fragment");
  // As a browser sends it: lower-case scheme and host, no default port, no slash.
  std::string origin = scheme + "://" + lower(std::string(url->encoded_host()));
  if (url->has_port()) {
    const bool default_port =
        (scheme == "https" && url->port() == "443") || (scheme == "http" && url->port() == "80");
    if (!default_port) origin += ":" + std::string(url->port());
  }
  return origin;
}

std::string TokenHash(std::string_view token) {
  return crypto::Hex(crypto::Sha256(token));
}

std::string NewToken() {
  return "mwh_" + crypto::Base64UrlEncode(crypto::RandomBytes(32));
}

bool RateLimiter::Allow(const std::string& key, int64_t now_ms, int64_t* wait_ms) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{static_cast<double>(per_minute_), now_ms});
  Bucket& b = it->second;
  const double per_ms = per_minute_ / 60000.0;
  b.tokens = std::min<double>(per_minute_, b.tokens + (now_ms - b.at) * per_ms);
  b.at = now_ms;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return true;
  }
  if (wait_ms) *wait_ms = static_cast<int64_t>((1.0 - b.tokens) / per_ms) + 1;
  return false;
}

ApiServer::ApiServer(store::StoreRoles stores, NowFn now, ApiOptions options,
                     std::function<void()> on_work)
    : config_(stores.config),
      queue_(stores.queue),
      history_(stores.history),
      now_(std::move(now)),
      options_(std::move(options)),
      sends_(options_.sends_per_minute),
      on_work_(std::move(on_work)) {}

void ApiServer::ChargeSend(const ApiToken& who) {
  int64_t wait_ms = 0;
  if (!sends_.Allow(who.team_id, now_(), &wait_ms)) {
    const int64_t seconds = (wait_ms + 999) / 1000;
    throw ApiError::RateLimited("This team may send " + std::to_string(options_.sends_per_minute) +
                                    " test events and resends a minute; try again in " +
                                    std::to_string(seconds) + " s",
                                seconds);
  }
}

ApiToken ApiServer::Authenticate(const Request& req, Access access) {
  const std::string header = req.get_header_value("Authorization");
  static constexpr std::string_view kBearer = "Bearer ";
  if (header.empty()) {
    throw ApiError::Unauthorized(
        "Missing Authorization header: send \"Authorization: Bearer <token>\"");
  }
  if (header.size() <= kBearer.size() || header.compare(0, kBearer.size(), kBearer) != 0) {
    throw ApiError::Unauthorized("Authorization header must be \"Bearer <token>\"");
  }
  auto token = FindToken(TokenHash(header.substr(kBearer.size())));
  if (!token) throw ApiError::Unauthorized("Unknown or revoked token");
  const int64_t now = now_();
  if (token->Expired(now)) {
    throw ApiError::Unauthorized("Token expired at " + FormatTimestamp(*token->expires_at));
  }
  const Role role = token->role;
  const bool allowed = access == Access::kAny || role == Role::kAdmin ||
                       (access == Access::kRead && role == Role::kViewer) ||
                       (access == Access::kIngest && role == Role::kIngest);
  if (!allowed) {
    if (role == Role::kIngest) {
      throw ApiError::Forbidden(
          "This token may only ingest events (role ingest); this route "
          "needs an admin token" +
          std::string(access == Access::kRead ? " or a viewer token" : ""));
    }
    throw ApiError::Forbidden(access == Access::kIngest
                                  ? "This token may only read (role viewer); ingesting events "
                                    "needs an ingest or admin token"
                                  : "This token may only read (role viewer); this route needs "
                                    "an admin token");
  }
  NoteUse(*token, now);
  return *token;
}

void ApiServer::NoteUse(const ApiToken& token, int64_t now) {
  {
    std::lock_guard lock(used_mu_);
    int64_t& last = last_noted_use_[token.id];
    if (now - last < 60000) return;
    last = now;
    if (last_noted_use_.size() > 10000) last_noted_use_.clear();
  }
  try {
    config_.TouchToken(token.id, now);
  } catch (const store::StoreError& e) {
    // The request goes on: "last used" is a hint, not a record.
    spdlog::warn("could not note the use of token {}: {}", token.id, e.what());
  }
}

std::optional<ApiToken> ApiServer::FindToken(const std::string& hash) {
  if (options_.token_cache_ms <= 0) return config_.FindActiveToken(hash);
  // The stamp is read before the database: a lookup that raced with a change is filed under
  // the old stamp, and the next request, seeing the new one, drops it.
  const std::string stamp = config_.TokensStamp();
  const int64_t now = now_();
  {
    std::lock_guard lock(tokens_mu_);
    if (stamp != tokens_stamp_) {
      tokens_.clear();
      tokens_stamp_ = stamp;
    }
    auto it = tokens_.find(hash);
    if (it != tokens_.end() && it->second.until > now) return it->second.token;
  }
  std::optional<ApiToken> token = config_.FindActiveToken(hash);
  if (token) {  // unknown tokens are not remembered: a guesser cannot fill the cache
    std::lock_guard lock(tokens_mu_);
    if (stamp == tokens_stamp_) {
      if (tokens_.size() >= 10000) tokens_.clear();
      tokens_[hash] = CachedToken{*token, now + options_.token_cache_ms};
    }
  }
  return token;
}

httplib::Server::Handler ApiServer::Route(Access access, Handler handler) {
  return [this, access, handler = std::move(handler)](const Request& req, Response& res) {
    try {
      const ApiToken token = Authenticate(req, access);
      handler(req, res, token);
    } catch (const ApiError& e) {
      WriteError(res, e);
    }
  };
}

store::AuditEntry ApiServer::Audit(const ApiToken& who, std::string action, std::string target,
                                   Json before, Json after) {
  const int64_t now = now_();
  return store::AuditEntry{
      crypto::NewId("aud", now), who.team_id,       who.id,          now, std::move(action),
      std::move(target),         std::move(before), std::move(after)};
}

void ApiServer::Add(httplib::Server& server, const std::string& method, const std::string& pattern,
                    httplib::Server::Handler handler) {
  routes_.push_back({method, pattern});
  if (method == "GET") server.Get(pattern, std::move(handler));
  if (method == "POST") server.Post(pattern, std::move(handler));
  if (method == "PATCH") server.Patch(pattern, std::move(handler));
  if (method == "DELETE") server.Delete(pattern, std::move(handler));
}

void ApiServer::Register(httplib::Server& server) {
  server.set_payload_max_length(options_.max_body_bytes);
  // Errors produced by httplib itself (404 route, 413 body too large, 400 bad request line) and
  // handlers that set only a status get the same JSON shape as ours.
  server.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    std::string message = "HTTP error " + std::to_string(res.status);
    if (res.status == 400) message = "Bad request";
    if (res.status == 413) message = "Request body is larger than the limit (256 KiB)";
    if (res.status == 404) message = "No route for " + req.method + " " + req.path;
    WriteError(res, ApiError{res.status, ReasonCode(res.status), message, {}});
  });
  // Every answer, the console's files and httplib's own errors included: the security headers,
  // and no caching of anything but the console's files (which are revalidated). A page of an
  // allowed origin may read it (CORS): the API from the mambo console, and the component's
  // files, which a module script fetches in CORS mode.
  server.set_post_routing_handler(
      [this, security = SecurityHeaders(options_.cors_origins)](const Request& req, Response& res) {
        for (const auto& [name, value] : security) {
          if (!res.has_header(name)) res.set_header(name, value);
        }
        if (const std::string origin = AllowedOrigin(req); !origin.empty()) {
          res.set_header("Access-Control-Allow-Origin", origin);
          res.set_header("Access-Control-Expose-Headers", "Location, Retry-After");
        }
        if (!options_.cors_origins.empty()) res.set_header("Vary", "Origin");
        if (!res.has_header("Cache-Control")) {
          const bool dynamic = req.path.rfind("/api/", 0) == 0 || req.path == "/healthz" ||
                               req.path == "/readyz" || req.path == "/metrics" || res.status >= 400;
          res.set_header("Cache-Control", dynamic ? "no-store" : "no-cache");
        }
      });
  server.set_exception_handler([](const Request& req, Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const ApiError& e) {
      WriteError(res, e);
      return;
    } catch (const store::StoreError& e) {
      // Nothing was accepted (a write's transaction did not commit): the client tries again,
      // e.g. once the database is back from a restart.
      spdlog::error("{} {}: store error: {}", req.method, ToValidUtf8(req.path), e.what());
      WriteError(res, ApiError{503,
                               "unavailable",
                               "The database is unavailable; nothing was changed. Try again.",
                               {}});
      res.set_header("Retry-After", "1");
      return;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("{} {}: internal error: {}", req.method, ToValidUtf8(req.path), what);
    WriteError(res, ApiError{500, "internal", "Internal error; the server log has details", {}});
  });

  // CORS preflight: an allowed origin may send the token and JSON with every method the API
  // has, and cache the answer for 2 hours; another origin gets 403 (and the browser refuses).
  server.Options(".*", [this](const Request& req, Response& res) {
    if (!req.has_header("Origin")) {
      res.status = 204;
      res.set_header("Allow", "GET, POST, PATCH, DELETE, OPTIONS");
      return;
    }
    if (AllowedOrigin(req).empty()) {
      WriteError(res, ApiError::Forbidden("This origin may not call this API (ask the operator "
                                          "to add it to --cors-origin)"));
      return;
    }
    res.status = 204;
    res.set_header("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE");
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
    res.set_header("Access-Control-Max-Age", "7200");
  });

  using namespace std::placeholders;
  auto bind = [this](void (ApiServer::*fn)(const Request&, Response&, const ApiToken&)) {
    return [this, fn](const Request& req, Response& res, const ApiToken& t) {
      (this->*fn)(req, res, t);
    };
  };
  const Access read = Access::kRead, write = Access::kWrite, any = Access::kAny;
  constexpr const char* kId = "([A-Za-z0-9_-]{1,64})";
  const std::string wh = std::string("/api/v1/webhooks/") + kId;
  const std::string dl = std::string("/api/v1/deliveries/") + kId;

  // This document needs no token: clients and tools read it before they have one.
  Add(server, "GET", "/api/v1/openapi.json", [](const Request&, Response& res) {
    res.set_content(std::string(detail::OpenApiFiles().front().text), "application/json");
  });
  Add(server, "GET", "/api/v1/event-types",
      Route(any, [](const Request&, Response& res, const ApiToken&) {
        Json types = Json::array();
        for (const auto& t : EventCatalog()) types.push_back(EventTypeJson(t));
        // webhookd's own notices about webhooks, subscribable like the catalog's types.
        Json notices = Json::array();
        for (const auto& t : NoticeTypes()) notices.push_back(EventTypeJson(t));
        SendJson(res, 200, Json{{"data", types}, {"notices", notices}});
      }));
  // One type with what a receiver needs to build against it: the schema of its data (JSON
  // Schema 2020-12, self-contained) and an example payload.
  Add(server, "GET", "/api/v1/event-types/([a-z_.]{1,64})",
      Route(any, [](const Request& req, Response& res, const ApiToken&) {
        const EventType* type = FindEventType(req.matches[1].str());
        const EventSchema* schema = type ? FindEventSchema(type->id) : nullptr;
        if (schema == nullptr) throw ApiError::NotFound("Event type " + req.matches[1].str());
        Json j = EventTypeJson(*type);
        j["schema"] = schema->schema;
        j["example"] = schema->example;
        SendJson(res, 200, j);
      }));
  Add(server, "GET", "/api/v1/webhooks", Route(read, bind(&ApiServer::ListWebhooks)));
  Add(server, "POST", "/api/v1/webhooks", Route(write, bind(&ApiServer::CreateWebhook)));
  Add(server, "GET", wh, Route(read, bind(&ApiServer::GetWebhook)));
  Add(server, "PATCH", wh, Route(write, bind(&ApiServer::PatchWebhook)));
  Add(server, "DELETE", wh, Route(write, bind(&ApiServer::DeleteWebhook)));
  Add(server, "GET", wh + "/secret", Route(write, bind(&ApiServer::RevealSecret)));
  Add(server, "GET", wh + "/headers", Route(write, bind(&ApiServer::RevealHeaders)));
  Add(server, "POST", wh + "/secret/rotate", Route(write, bind(&ApiServer::RotateSecret)));
  Add(server, "GET", wh + "/deliveries", Route(read, bind(&ApiServer::ListDeliveries)));
  Add(server, "GET", wh + "/stats", Route(read, bind(&ApiServer::WebhookStats)));
  Add(server, "POST", wh + "/recover", Route(write, bind(&ApiServer::RecoverDeliveries)));
  Add(server, "POST", wh + "/test", Route(write, bind(&ApiServer::SendTestEvent)));
  Add(server, "GET", dl, Route(read, bind(&ApiServer::GetDelivery)));
  Add(server, "POST", dl + "/resend", Route(write, bind(&ApiServer::ResendDelivery)));
  Add(server, "POST", dl + "/cancel", Route(write, bind(&ApiServer::CancelDelivery)));
  Add(server, "POST", wh + "/cancel-pending", Route(write, bind(&ApiServer::CancelPending)));
  Add(server, "GET", "/api/v1/audit", Route(read, bind(&ApiServer::ListAudit)));
  Add(server, "POST", "/api/v1/events", Route(Access::kIngest, bind(&ApiServer::IngestEvent)));
  Add(server, "GET", "/api/v1/events", Route(read, bind(&ApiServer::ListEvents)));
  Add(server, "GET", std::string("/api/v1/events/") + kId, Route(read, bind(&ApiServer::GetEvent)));
  Add(server, "GET", "/api/v1/tokens", Route(read, bind(&ApiServer::ListTokens)));
  Add(server, "POST", "/api/v1/tokens", Route(write, bind(&ApiServer::CreateToken)));
  // The token this request carries: what the console asks to know what to show.
  Add(server, "GET", "/api/v1/tokens/current",
      Route(any, [](const Request&, Response& res, const ApiToken& who) {
        SendJson(res, 200, TokenJson(who, who));
      }));
  Add(server, "DELETE", std::string("/api/v1/tokens/") + kId,
      Route(write, bind(&ApiServer::RevokeToken)));
}

std::string ApiServer::AllowedOrigin(const Request& req) const {
  if (options_.cors_origins.empty() || !req.has_header("Origin")) return "";
  const std::string origin = req.get_header_value("Origin");
  for (const std::string& allowed : options_.cors_origins) {
    if (origin == allowed) return origin;
  }
  return "";
}

Webhook ApiServer::LoadWebhook(const ApiToken& who, const std::string& id) {
  auto w = config_.GetWebhook(who.team_id, id);
  if (!w) throw ApiError::NotFound("Webhook " + id);
  return *w;
}

// Each entry carries its last 24 hours (this one and the 23 before), read in one query for the
// page: what the console's list shows.
void ApiServer::ListWebhooks(const Request& req, Response& res, const ApiToken& who) {
  const PageParams p = ReadPageParams(req);
  const store::Page<Webhook> page = config_.ListWebhooks(who.team_id, p.limit, p.cursor);
  std::vector<std::string> ids;
  for (const Webhook& w : page.items) ids.push_back(w.id);
  const int64_t since = store::HourStart(now_()) - 23 * store::kHourMs;
  const store::StatsByWebhook stats = history_.AttemptStats(who.team_id, ids, since);
  const auto last = history_.LastDeliveries(who.team_id, ids);
  Json j = PageJson(page);
  for (Json& entry : j["data"]) {
    const std::string id = entry["id"].get<std::string>();
    store::HourStats day;
    std::vector<int64_t> ok(24, 0), failed(24, 0);  // oldest hour first
    if (const auto s = stats.find(id); s != stats.end()) {
      for (const store::HourStats& h : s->second) {
        day.Merge(h);
        const auto i = static_cast<size_t>((h.hour - since) / store::kHourMs);
        if (i < 24) {
          ok[i] = h.succeeded;
          failed[i] = h.failed;
        }
      }
    }
    Json summary = SummaryJson(store::Summarize(day));
    summary["hourly_succeeded"] = ok;
    summary["hourly_failed"] = failed;
    entry["stats_24h"] = std::move(summary);
    const auto l = last.find(id);
    entry["last_delivery"] = l != last.end() ? Json(l->second) : Json(nullptr);
  }
  SendJson(res, 200, j);
}

// Hourly figures of the window, oldest first, every hour present (zero when nothing was tried),
// the last one the hour now running.
void ApiServer::WebhookStats(const Request& req, Response& res, const ApiToken& who) {
  const Webhook w = LoadWebhook(who, req.matches[1]);
  const std::string window = req.has_param("window") ? req.get_param_value("window") : "24h";
  if (window != "24h" && window != "7d") {
    throw ApiError::Validation({{"window", "window must be 24h or 7d"}});
  }
  const int64_t hours = window == "24h" ? 24 : 7 * 24;
  const int64_t first = store::HourStart(now_()) - (hours - 1) * store::kHourMs;
  const store::StatsByWebhook stats = history_.AttemptStats(who.team_id, {w.id}, first);
  const auto found = stats.find(w.id);
  const std::vector<store::HourStats> none;
  const std::vector<store::HourStats>& kept = found != stats.end() ? found->second : none;
  Json buckets = Json::array();
  store::HourStats total;
  size_t k = 0;
  for (int64_t i = 0; i < hours; ++i) {
    const int64_t start = first + i * store::kHourMs;
    store::HourStats hour{start, 0, 0, {}};
    while (k < kept.size() && kept[k].hour < start) ++k;
    if (k < kept.size() && kept[k].hour == start) hour = kept[k];
    total.Merge(hour);
    Json b = SummaryJson(store::Summarize(hour));
    b["start"] = FormatTimestamp(start);
    buckets.push_back(std::move(b));
  }
  SendJson(res, 200,
           Json{{"window", window},
                {"bucket_seconds", store::kHourMs / 1000},
                {"buckets", buckets},
                {"totals", SummaryJson(store::Summarize(total))}});
}

void ApiServer::CreateWebhook(const Request& req, Response& res, const ApiToken& who) {
  RequireJsonBody(req);
  WebhookInput in;
  FieldErrors errors = ParseWebhookInput(req.body, InputMode::kCreate, in);
  if (!errors.empty()) throw ApiError::Validation(std::move(errors));
  const int64_t now = now_();
  Webhook w;
  w.id = crypto::NewId("wh", now);
  w.team_id = who.team_id;
  w.url = *in.url;
  w.events = *in.events;
  if (in.secret) {
    w.secret = *in.secret == kGenerateSecret ? crypto::GenerateWebhookSecret() : *in.secret;
  }
  w.active = in.active.value_or(true);
  w.description = in.description;
  w.rate_limit_per_second = in.rate_limit_per_second;
  if (in.headers) w.headers = ApplyHeaderChanges({}, *in.headers);
  w.created_at = w.updated_at = now;
  if (!config_.CreateWebhook(w, Audit(who, "webhook.create", w.id, nullptr, Json(w)),
                             options_.max_webhooks_per_team)) {
    throw ApiError::Quota("This team has " + std::to_string(options_.max_webhooks_per_team) +
                          " webhooks, the most allowed; delete one first or ask the operator "
                          "to raise --max-webhooks-per-team");
  }
  Json body = w;
  // The one response that carries a secret set by this request: shown once.
  if (w.secret) body["secret"] = *w.secret;
  res.set_header("Location", "/api/v1/webhooks/" + w.id);
  SendJson(res, 201, body);
}

void ApiServer::GetWebhook(const Request& req, Response& res, const ApiToken& who) {
  SendJson(res, 200, Json(LoadWebhook(who, req.matches[1])));
}

void ApiServer::PatchWebhook(const Request& req, Response& res, const ApiToken& who) {
  RequireJsonBody(req);
  const Webhook before = LoadWebhook(who, req.matches[1]);
  WebhookInput in;
  FieldErrors errors = ParseWebhookInput(req.body, InputMode::kUpdate, in);
  if (!errors.empty()) throw ApiError::Validation(std::move(errors));
  Webhook w = before;
  if (in.url) w.url = *in.url;
  if (in.events) w.events = *in.events;
  bool secret_changed = false;
  if (in.secret) {
    w.secret = *in.secret == kGenerateSecret ? crypto::GenerateWebhookSecret() : *in.secret;
    secret_changed = true;
  } else if (in.clear_secret) {
    secret_changed = before.secret.has_value();
    w.secret.reset();
  }
  if (in.active) {
    w.active = *in.active;
    if (w.active) w.disabled_reason.reset();  // re-enabled by a person: the reason is history
  }
  if (in.description) w.description = in.description;
  if (in.clear_description) w.description.reset();
  if (in.rate_limit_per_second) w.rate_limit_per_second = in.rate_limit_per_second;
  if (in.clear_rate_limit) w.rate_limit_per_second.reset();
  // Which headers were set or removed: the audit log names them (their values are masked).
  Json headers_changed = Json::array();
  if (in.clear_headers) {
    for (const auto& h : before.headers) headers_changed.push_back(h.first);
    w.headers.clear();
  } else if (in.headers) {
    w.headers = ApplyHeaderChanges(before.headers, *in.headers);
    if (FieldErrors e = HeadersErrors(w.headers); !e.empty()) {
      throw ApiError::Validation(std::move(e));
    }
    for (const auto& change : *in.headers) headers_changed.push_back(change.first);
  }
  w.updated_at = now_();
  Json after = w;
  Json audit_after = after;
  if (secret_changed) audit_after["secret_changed"] = true;  // that it changed, never the value
  if (!headers_changed.empty()) audit_after["headers_changed"] = std::move(headers_changed);
  if (!config_.UpdateWebhook(w, secret_changed,
                             Audit(who, "webhook.update", w.id, Json(before), audit_after))) {
    throw ApiError::NotFound("Webhook " + w.id);
  }
  if (before.active && !w.active && on_switched_off_) on_switched_off_(w, who.id, w.updated_at);
  if (secret_changed && w.secret) after["secret"] = *w.secret;
  SendJson(res, 200, after);
}

void ApiServer::DeleteWebhook(const Request& req, Response& res, const ApiToken& who) {
  const Webhook before = LoadWebhook(who, req.matches[1]);
  if (!config_.DeleteWebhook(who.team_id, before.id,
                             Audit(who, "webhook.delete", before.id, Json(before), nullptr))) {
    throw ApiError::NotFound("Webhook " + before.id);
  }
  res.status = 204;
}

void ApiServer::RevealSecret(const Request& req, Response& res, const ApiToken& who) {
  const Webhook w = LoadWebhook(who, req.matches[1]);
  // Revealing is an audited act, like any change: the auditor sees who looked and when.
  config_.AppendAudit(Audit(who, "webhook.secret_reveal", w.id, nullptr, nullptr));
  SendJson(res, 200, Json{{"secret", w.secret ? Json(*w.secret) : Json(nullptr)}});
}

void ApiServer::RevealHeaders(const Request& req, Response& res, const ApiToken& who) {
  const Webhook w = LoadWebhook(who, req.matches[1]);
  config_.AppendAudit(Audit(who, "webhook.headers_reveal", w.id, nullptr, nullptr));
  Json headers = Json::object();
  for (const auto& [name, value] : w.headers) headers[name] = value;
  SendJson(res, 200, Json{{"headers", std::move(headers)}});
}

void ApiServer::RotateSecret(const Request& req, Response& res, const ApiToken& who) {
  const Json body = ParseBody(req, true);
  Webhook w = LoadWebhook(who, req.matches[1]);
  int64_t grace_ms = options_.rotation_grace_ms;
  FieldErrors errors;
  std::string secret = crypto::GenerateWebhookSecret();
  for (const auto& [key, value] : body.items()) {
    if (key == "grace_period_seconds") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
          value.get<int64_t>() > 7 * 24 * 3600) {
        errors.push_back({key, "grace_period_seconds must be a whole number from 0 to 604800"});
      } else {
        grace_ms = value.get<int64_t>() * 1000;
      }
    } else if (key == "secret") {
      if (!value.is_string()) {
        errors.push_back({key, "Must be a string"});
      } else if (auto e = SecretError(value.get<std::string>())) {
        errors.push_back({key, *e});
      } else if (value.get<std::string>() != kGenerateSecret) {
        secret = value.get<std::string>();
      }
    } else {
      errors.push_back({key, "Unknown field"});
    }
  }
  if (!errors.empty()) throw ApiError::Validation(std::move(errors));
  const int64_t now = now_();
  const int64_t old_valid_until = now + grace_ms;
  Json after = Json(w);
  after["secret_rotated"] = true;
  const store::ConfigStore::Rotation rotation =
      config_.RotateSecret(who.team_id, w.id, secret, old_valid_until,
                           Audit(who, "webhook.secret_rotate", w.id, Json(w), after));
  using Status = store::ConfigStore::Rotation::Status;
  if (rotation.status == Status::kNotFound) throw ApiError::NotFound("Webhook " + w.id);
  if (rotation.status == Status::kTooMany) {
    throw ApiError::Conflict(
        std::to_string(store::ConfigStore::kMaxPreviousSecrets) +
        " rotated-out secrets of this webhook still sign deliveries; rotate again once one "
        "has expired, or set a new secret with PATCH, which ends them all at once");
  }
  Json out{{"secret", secret}};
  out["previous_secret_valid_until"] =
      w.secret ? Json(FormatTimestamp(old_valid_until)) : Json(nullptr);
  // Every rotated-out secret still signing, each until its own expiry.
  Json previous = Json::array();
  for (const int64_t until : rotation.previous_valid_until) {
    previous.push_back(Json{{"valid_until", FormatTimestamp(until)}});
  }
  out["previous_secrets"] = std::move(previous);
  SendJson(res, 200, out);
}

void ApiServer::CreateToken(const Request& req, Response& res, const ApiToken& who) {
  const Json body = ParseBody(req, false);
  const int64_t now = now_();
  FieldErrors errors;
  std::optional<Role> role;
  store::TokenDetails details;
  for (const auto& [key, value] : body.items()) {
    if (key == "role") {
      if (value.is_string()) role = store::ParseRole(value.get<std::string>());
      if (!role) errors.push_back({key, "Role must be \"admin\", \"viewer\" or \"ingest\""});
    } else if (key == "description") {
      if (!value.is_string()) {
        errors.push_back({key, "Must be a string"});
      } else if (auto e = DescriptionError(value.get<std::string>())) {
        errors.push_back({key, *e});
      } else {
        details.description = value.get<std::string>();
      }
    } else if (key == "expires_at") {
      if (value.is_null()) continue;
      const std::optional<int64_t> at =
          value.is_string() ? ParseTimestamp(value.get<std::string>()) : std::nullopt;
      if (!at) {
        errors.push_back({key, "Must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z, or null"});
      } else if (*at <= now) {
        errors.push_back({key, "Must be in the future"});
      } else {
        details.expires_at = at;
      }
    } else {
      errors.push_back({key, "Unknown field"});
    }
  }
  if (!body.contains("role")) errors.push_back({"role", "Required: admin, viewer or ingest"});
  if (!errors.empty()) throw ApiError::Validation(std::move(errors));
  const std::string token = NewToken();
  // The audit names the token's role and purpose, never its value.
  Json after{{"role", std::string(ToString(*role))},
             {"description", details.description},
             {"expires_at",
              details.expires_at ? Json(FormatTimestamp(*details.expires_at)) : Json(nullptr)}};
  details.audit = Audit(who, "token.create", "", nullptr, after);
  const ApiToken created = config_.CreateToken(who.team_id, *role, TokenHash(token), now, details);
  Json out = TokenJson(created, who);
  out["token"] = token;  // the only time it is shown
  SendJson(res, 201, out);
}

void ApiServer::ListTokens(const Request&, Response& res, const ApiToken& who) {
  Json data = Json::array();
  for (const ApiToken& t : config_.ListTokens(who.team_id)) {
    if (!t.revoked_at) data.push_back(TokenJson(t, who));
  }
  SendJson(res, 200, Json{{"data", std::move(data)}});
}

void ApiServer::RevokeToken(const Request& req, Response& res, const ApiToken& who) {
  const std::string id = req.matches[1];
  if (id == who.id && req.get_param_value("confirm") != "true") {
    throw ApiError{409,
                   "confirmation_required",
                   "This is the token this request uses: revoking it ends this session. "
                   "Send DELETE /api/v1/tokens/" +
                       id + "?confirm=true to revoke it anyway",
                   {}};
  }
  using Result = store::ConfigStore::RevokeResult;
  switch (config_.RevokeTeamToken(who.team_id, id,
                                  Audit(who, "token.revoke", id, Json{{"id", id}}, nullptr))) {
    case Result::kNotFound:
      throw ApiError::NotFound("Token " + id);
    case Result::kLastAdmin:
      throw ApiError{409,
                     "last_admin",
                     "This is the team's last admin token: create another admin token first, "
                     "so that someone can still manage the team",
                     {}};
    case Result::kRevoked:
      break;
  }
  {
    std::lock_guard lock(tokens_mu_);
    tokens_.clear();  // this instance refuses it at once, whatever the stamp says
  }
  res.status = 204;
}

void ApiServer::ListAudit(const Request& req, Response& res, const ApiToken& who) {
  const PageParams p = ReadPageParams(req);
  SendJson(res, 200, PageJson(config_.ListAudit(who.team_id, p.limit, p.cursor)));
}

void ApiServer::IngestEvent(const Request& req, Response& res, const ApiToken& who) {
  const Json body = ParseBody(req, false);
  Event e;
  if (FieldErrors errors = ParseEventInput(body, e); !errors.empty()) {
    throw ApiError::Validation(std::move(errors));
  }
  e.team_id = who.team_id;
  e.timestamp = now_();
  if (e.id.empty()) e.id = crypto::NewId("evt", e.timestamp);
  const store::IngestResult r = queue_.IngestEvent(e, e.timestamp);
  if (r.created && !r.delivery_ids.empty() && on_work_) on_work_();
  SendJson(res, 202, Json{{"id", r.event.id}, {"deliveries", r.delivery_ids}});
}

void ApiServer::ListDeliveries(const Request& req, Response& res, const ApiToken& who) {
  const Webhook w = LoadWebhook(who, req.matches[1]);
  const PageParams p = ReadPageParams(req);
  store::DeliveryFilter filter;
  FieldErrors errors;
  if (req.has_param("status")) {
    filter.status = ParseDeliveryStatus(req.get_param_value("status"));
    if (!filter.status) {
      errors.push_back(
          {"status",
           "status must be pending, in_flight, succeeded, failed, exhausted or cancelled"});
    }
  }
  if (req.has_param("event_type")) {
    filter.event_type = req.get_param_value("event_type");
    if (!FindSubscribableType(*filter.event_type) && *filter.event_type != kTestEventType) {
      errors.push_back({"event_type", "Unknown event type \"" + *filter.event_type + "\""});
    }
  }
  // One hour of the statistics (the console's chart): deliveries attempted in it.
  filter.attempted_since = TimeParam(req, "attempted_since", errors);
  filter.attempted_until = TimeParam(req, "attempted_until", errors);
  if (errors.empty() && filter.attempted_since.has_value() != filter.attempted_until.has_value()) {
    errors.push_back({filter.attempted_since ? "attempted_until" : "attempted_since",
                      "attempted_since and attempted_until go together"});
  }
  if (!errors.empty()) throw ApiError::Validation(std::move(errors));
  SendJson(res, 200,
           PageJson(history_.ListDeliveries(who.team_id, w.id, filter, p.limit, p.cursor)));
}

void ApiServer::ListEvents(const Request& req, Response& res, const ApiToken& who) {
  const PageParams p = ReadPageParams(req);
  store::EventFilter filter;
  FieldErrors errors;
  if (req.has_param("type")) {
    filter.type = req.get_param_value("type");
    if (!FindSubscribableType(*filter.type) && *filter.type != kTestEventType) {
      errors.push_back({"type", "Unknown event type \"" + *filter.type + "\""});
    }
  }
  filter.since = TimeParam(req, "since", errors);
  filter.until = TimeParam(req, "until", errors);
  if (!errors.empty()) throw ApiError::Validation(std::move(errors));
  const store::Page<Event> page = history_.ListEvents(who.team_id, filter, p.limit, p.cursor);
  Json items = Json::array();
  for (const Event& e : page.items) {
    items.push_back({{"id", e.id},
                     {"type", e.type},
                     {"team_id", e.team_id},
                     {"timestamp", FormatTimestamp(e.timestamp)}});
  }
  SendJson(res, 200,
           Json{{"data", items},
                {"next_cursor", page.next_cursor ? Json(*page.next_cursor) : Json(nullptr)}});
}

void ApiServer::GetEvent(const Request& req, Response& res, const ApiToken& who) {
  const auto r = history_.GetEvent(who.team_id, req.matches[1]);
  if (!r) throw ApiError::NotFound("Event " + std::string(req.matches[1]));
  Json j = r->event;
  j["deliveries"] = r->deliveries;
  SendJson(res, 200, j);
}

void ApiServer::GetDelivery(const Request& req, Response& res, const ApiToken& who) {
  auto d = history_.GetDelivery(who.team_id, req.matches[1]);
  if (!d) throw ApiError::NotFound("Delivery " + std::string(req.matches[1]));
  Json j = *d;
  j["attempts"] = d->attempts;
  // What was sent: the exact bytes every attempt signed (the same for each; the store keeps the
  // event's data as text), and the headers of the latest attempt, whose signature a receiver's
  // verifier accepts over that body with the webhook's secret. Before any attempt: null headers.
  if (d->event_data) {
    const Event event{d->event_id, d->event_type, d->team_id, d->event_timestamp, nullptr};
    j["request"] = {{"body", DeliveryBody(event, *d->event_data)},
                    {"headers", d->attempts.empty() ? Json(nullptr)
                                                    : Json(d->attempts.back().request_headers)}};
  }
  SendJson(res, 200, j);
}

void ApiServer::ResendDelivery(const Request& req, Response& res, const ApiToken& who) {
  const std::string id = req.matches[1];
  auto d = history_.GetDelivery(who.team_id, id);
  if (!d) throw ApiError::NotFound("Delivery " + id);
  ChargeSend(who);
  if (!queue_.ResendDelivery(who.team_id, id, now_())) {
    throw ApiError::Conflict("Delivery " + id + " is being sent right now; try again when it ends");
  }
  config_.AppendAudit(Audit(who, "delivery.resend", id, nullptr, nullptr));
  if (on_work_) on_work_();
  SendJson(res, 202, Json{{"id", id}, {"status", "queued"}});
}

void ApiServer::CancelDelivery(const Request& req, Response& res, const ApiToken& who) {
  ParseBody(req, true);
  const std::string id = req.matches[1];
  using Result = store::QueueStore::CancelResult;
  switch (queue_.CancelDelivery(who.team_id, id, now_())) {
    case Result::kNotFound:
      throw ApiError::NotFound("Delivery " + id);
    case Result::kInFlight:
      throw ApiError::Conflict("Delivery " + id +
                               " is being sent right now; cancel it again if it fails");
    case Result::kAlreadyFinal:
      throw ApiError::Conflict("Delivery " + id +
                               " is not waiting to be sent (it succeeded, gave up or was "
                               "cancelled already)");
    case Result::kCancelled:
      break;
  }
  config_.AppendAudit(Audit(who, "delivery.cancel", id, nullptr, nullptr));
  SendJson(res, 200, Json{{"id", id}, {"status", "cancelled"}});
}

void ApiServer::CancelPending(const Request& req, Response& res, const ApiToken& who) {
  ParseBody(req, true);
  const Webhook w = LoadWebhook(who, req.matches[1]);
  const int64_t count = queue_.CancelPending(who.team_id, w.id, now_());
  config_.AppendAudit(
      Audit(who, "webhook.cancel_pending", w.id, nullptr, Json{{"cancelled", count}}));
  SendJson(res, 200, Json{{"cancelled", count}});
}

void ApiServer::RecoverDeliveries(const Request& req, Response& res, const ApiToken& who) {
  const Json body = ParseBody(req, false);
  const Webhook w = LoadWebhook(who, req.matches[1]);
  FieldErrors errors;
  std::optional<int64_t> since;
  for (const auto& [key, value] : body.items()) {
    if (key == "since") {
      if (value.is_string()) since = ParseTimestamp(value.get<std::string>());
      if (!since)
        errors.push_back({key, "since must be an RFC 3339 time, e.g. 2026-11-29T00:00:00Z"});
    } else {
      errors.push_back({key, "Unknown field"});
    }
  }
  if (!body.contains("since")) errors.push_back({"since", "since is required"});
  if (!errors.empty()) throw ApiError::Validation(std::move(errors));
  const int64_t count = queue_.RecoverDeliveries(who.team_id, w.id, *since, now_());
  config_.AppendAudit(Audit(who, "webhook.recover", w.id, nullptr,
                            Json{{"since", FormatTimestamp(*since)}, {"requeued", count}}));
  if (count > 0 && on_work_) on_work_();
  SendJson(res, 202, Json{{"requeued", count}});
}

void ApiServer::SendTestEvent(const Request& req, Response& res, const ApiToken& who) {
  ParseBody(req, true);
  const Webhook w = LoadWebhook(who, req.matches[1]);
  ChargeSend(who);
  Event e;
  e.timestamp = now_();
  e.id = crypto::NewId("evt", e.timestamp);
  e.type = std::string(kTestEventType);
  e.team_id = who.team_id;
  e.data = Json{{"webhook_id", w.id}, {"message", "Test event from mambo EMM webhooks"}};
  const std::string delivery = queue_.QueueSingleDelivery(e, w.id, e.timestamp);
  if (on_work_) on_work_();
  SendJson(res, 202, Json{{"id", e.id}, {"deliveries", {delivery}}});
}

}  // namespace mambo::api
