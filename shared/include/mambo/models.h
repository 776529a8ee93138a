#pragma once
// The data model shared by webhookd and the console, with nlohmann JSON conversion found by ADL.
// Times are Unix milliseconds (UTC) in memory and RFC 3339 strings ("2026-11-29T02:19:12.123Z") in
// JSON. from_json is for trusted JSON (the store, the API's own responses); untrusted request
// bodies go through the non-throwing parsers in validation.h.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mambo {

using Json = nlohmann::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Webhook {
  std::string id;       // "wh_..."
  std::string team_id;  // owner; every API call is scoped to one team
  std::string url;
  std::vector<std::string> events;  // event type ids from the catalog
  // Never serialised by to_json: a secret leaves the service only in the response that set it
  // and through the explicit reveal endpoint.
  std::optional<std::string> secret;
  bool active = true;
  std::optional<std::string> description;
  std::optional<std::string> disabled_reason;  // why webhookd set it inactive, if it did
  // At most this many requests a second to this webhook from each webhookd instance; the queue
  // waits. None: as fast as the engine goes.
  std::optional<int> rate_limit_per_second;
  // Sent with every attempt, in this order. Values may be credentials: sealed at rest like the
  // secret, and to_json shows each as kMaskedHeaderValue (the reveal endpoint shows them).
  Headers headers;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// What every response, audit record and log line shows instead of a custom header's value.
inline constexpr std::string_view kMaskedHeaderValue = "********";

struct Event {
  std::string id;  // "evt_..." or the producer's own idempotency id
  std::string type;
  std::string team_id;
  int64_t timestamp = 0;
  Json data = Json::object();
};

// kFailed: the last attempt failed and another is scheduled ("retrying"); kExhausted: every
// attempt failed and none is left; kCancelled: a person stopped it before it succeeded.
enum class DeliveryStatus { kPending, kInFlight, kSucceeded, kFailed, kExhausted, kCancelled };

// Why an attempt failed when there is no 2xx answer. kHttpStatus means the receiver answered with
// a non-2xx status (see DeliveryAttempt::http_status); the others mean there was no usable answer.
enum class FailureCause {
  kNone,
  kHttpStatus,
  kDns,
  kConnect,
  kTls,
  kTimeout,
  kBlockedAddress,
  kResponseTooLarge,
  kConnectionClosed,
  kInvalidUrl,
  kInternal,
};

struct DeliveryAttempt {
  std::string id;
  std::string delivery_id;
  int number = 0;  // 1 for the first attempt
  int64_t started_at = 0;
  int64_t duration_ms = 0;
  std::optional<int> http_status;
  FailureCause cause = FailureCause::kNone;
  std::string error;  // human-readable detail for the cause ("connection refused")
  Headers request_headers;
  Headers response_headers;
  std::string response_excerpt;  // at most kResponseExcerptLimit bytes
  bool response_truncated = false;
  bool response_headers_truncated = false;  // more than kMaxStoredResponseHeaders or ...Bytes
};

inline constexpr size_t kResponseExcerptLimit = 16 * 1024;
// A receiver's response headers are kept up to these bounds (names and values together); the
// rest is dropped and the attempt says so. A receiver decides how many headers it sends.
inline constexpr size_t kMaxStoredResponseHeaders = 64;
inline constexpr size_t kMaxStoredResponseHeaderBytes = 8 * 1024;

struct Delivery {
  std::string id;
  std::string webhook_id;
  std::string team_id;
  std::string event_id;
  std::string event_type;
  DeliveryStatus status = DeliveryStatus::kPending;
  int attempt_count = 0;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  int64_t next_attempt_at = 0;  // meaningful while pending or failed
  std::optional<int> last_http_status;
  FailureCause last_cause = FailureCause::kNone;
  std::vector<DeliveryAttempt> attempts;  // filled only where asked for (details view)
  // The event as stored, in the details view too: its time and its data's text, from which
  // DeliveryBody rebuilds the exact bytes every attempt sent and signed.
  int64_t event_timestamp = 0;
  std::optional<std::string> event_data;
};

// The body webhookd POSTs for an event: {"id","type","timestamp","team_id","data"}, the data
// being the text stored at ingest, so that the same event always gives the same bytes (what a
// receiver verifies the signature over, and what the API shows as sent).
std::string DeliveryBody(const Event& event, std::string_view data_json);

// Attempts a delivery gets before it is exhausted: the length of the retry schedule
// (backend/delivery/retry_policy.cpp; a test holds the two equal).
inline constexpr int kMaxDeliveryAttempts = 10;

std::string_view ToString(DeliveryStatus status);
std::optional<DeliveryStatus> ParseDeliveryStatus(std::string_view text);
std::string_view ToString(FailureCause cause);

// The instants RFC 3339 can write with a four-digit year, in UTC: 0000-01-01T00:00:00.000Z and
// 9999-12-31T23:59:59.999Z.
inline constexpr int64_t kMinTimestampMs = -62167219200000;
inline constexpr int64_t kMaxTimestampMs = 253402300799999;

// RFC 3339 UTC with milliseconds. ParseTimestamp accepts "Z" or a numeric offset and fractional
// seconds of any length, for instants from kMinTimestampMs to kMaxTimestampMs (so that every
// instant it returns formats back as RFC 3339); it returns nullopt for anything else.
std::string FormatTimestamp(int64_t unix_ms);
// Days from 1970-01-01 to y-m-d (proleptic Gregorian, exact for every representable date);
// what timegm does, without its dependence on the TZ environment.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d);
std::optional<int64_t> ParseTimestamp(std::string_view text);

NLOHMANN_JSON_SERIALIZE_ENUM(DeliveryStatus, {
                                                 {DeliveryStatus::kPending, "pending"},
                                                 {DeliveryStatus::kInFlight, "in_flight"},
                                                 {DeliveryStatus::kSucceeded, "succeeded"},
                                                 {DeliveryStatus::kFailed, "failed"},
                                                 {DeliveryStatus::kExhausted, "exhausted"},
                                                 {DeliveryStatus::kCancelled, "cancelled"},
                                             })

NLOHMANN_JSON_SERIALIZE_ENUM(FailureCause,
                             {
                                 {FailureCause::kNone, nullptr},
                                 {FailureCause::kHttpStatus, "http_status"},
                                 {FailureCause::kDns, "dns"},
                                 {FailureCause::kConnect, "connect"},
                                 {FailureCause::kTls, "tls"},
                                 {FailureCause::kTimeout, "timeout"},
                                 {FailureCause::kBlockedAddress, "blocked_address"},
                                 {FailureCause::kResponseTooLarge, "response_too_large"},
                                 {FailureCause::kConnectionClosed, "connection_closed"},
                                 {FailureCause::kInvalidUrl, "invalid_url"},
                                 {FailureCause::kInternal, "internal"},
                             })

// The API's JSON read back without throwing (the console runs without exception catching):
// nullopt when `j` is not one (no id, or no url for a webhook); a field missing or of another
// type takes its default. from_json (j.get<Webhook>()) is the same and throws on nullopt.
// A webhook's "has_secret" makes `secret` an empty string (there is one, value unknown).
std::optional<Webhook> WebhookFromJson(const Json& j);
std::optional<DeliveryAttempt> AttemptFromJson(const Json& j);
std::optional<Delivery> DeliveryFromJson(const Json& j);

void to_json(Json& j, const Webhook& w);
void from_json(const Json& j, Webhook& w);
void to_json(Json& j, const Event& e);
void from_json(const Json& j, Event& e);
void to_json(Json& j, const DeliveryAttempt& a);
void from_json(const Json& j, DeliveryAttempt& a);
void to_json(Json& j, const Delivery& d);
void from_json(const Json& j, Delivery& d);

}  // namespace mambo
