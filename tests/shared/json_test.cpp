// JSON of the data model (round trips, no secrets, enums as strings, RFC 3339 times), the
// timestamp functions, and ParseWebhookInput on malformed bodies. The wasm build has exceptions
// disabled, so anything here that throws aborts node: these tests double as "never throws" proof.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "mambo/models.h"
#include "mambo/validation.h"
#include "test_printers.h"

namespace mambo {
namespace {

// ---------------------------------------------------------------------------------------------
// Timestamps

TEST(Timestamp, FormatsTheEpoch) {
  EXPECT_EQ(FormatTimestamp(0), "1970-01-01T00:00:00.000Z");
}

TEST(Timestamp, FormatsMillisecondsAndLeapDays) {
  EXPECT_EQ(FormatTimestamp(1709210096789), "2024-02-29T12:34:56.789Z");
  EXPECT_EQ(FormatTimestamp(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(1795918752123), "2026-11-29T02:19:12.123Z");
  EXPECT_EQ(FormatTimestamp(253402300799999), "9999-12-31T23:59:59.999Z");
}

TEST(Timestamp, FormatsTimesBeforeTheEpoch) {
  EXPECT_EQ(FormatTimestamp(-1), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatTimestamp(-14182940000), "1969-07-20T20:17:40.000Z");
}

TEST(Timestamp, ParsesUtcAndOffsets) {
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:00.000Z"), 0);
  EXPECT_EQ(ParseTimestamp("2024-02-29T12:34:56.789Z"), 1709210096789);
  EXPECT_EQ(ParseTimestamp("2024-02-29T00:00:00+02:00"), 1709157600000);
  EXPECT_EQ(ParseTimestamp("2024-02-28T22:00:00Z"), 1709157600000);
  EXPECT_EQ(ParseTimestamp("2024-03-01T00:30:00-05:30"), 1709272800000);
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:00+00:00"), 0);
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:00-00:00"), 0);
  EXPECT_EQ(ParseTimestamp("2024-02-29t12:34:56.789z"), 1709210096789);  // RFC 3339 allows
  EXPECT_EQ(ParseTimestamp("1969-07-20T20:17:40Z"), -14182940000);
}

TEST(Timestamp, ParsesFractionalSecondsOfAnyLength) {
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:01.05Z"), 1050);
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:01.123456789Z"), 1123);  // truncated to ms
  EXPECT_EQ(ParseTimestamp("1970-01-01T00:00:01.999999+01:00"), 1999 - 3600000);
}

TEST(Timestamp, LeapSecondIsClampedToTheSecondBefore) {
  EXPECT_EQ(ParseTimestamp("2016-12-31T23:59:60Z"), 1483228799000);
}

TEST(Timestamp, RejectsInvalidText) {
  for (const char* text : {
           "",
           "2024-02-29",
           "2024-02-29T12:34:56",        // no zone
           "2024-02-29 12:34:56Z",       // space separator
           "2024-02-29T12:34:56.Z",      // empty fraction
           "2024-02-29T12:34:56.789",    // fraction, no zone
           "2024-02-29T12:34:56+0200",   // offset without colon
           "2024-02-29T12:34:56+02",     // short offset
           "2024-02-29T12:34:56+02:0",   // short offset minutes
           "2024-02-29T12:34:56+24:00",  // offset hours
           "2024-02-29T12:34:56+02:60",  // offset minutes
           "2024-02-29T12:34:56ZZ",      // trailing text
           "2024-02-29T12:34:56Z ",      // trailing space
           " 2024-02-29T12:34:56Z",      // leading space
           "2024-2-29T12:34:56Z",        // one-digit month
           "24-02-29T12:34:56Z",         // two-digit year
           "2024-00-10T00:00:00Z",       // month 0
           "2024-13-10T00:00:00Z",       // month 13
           "2024-01-00T00:00:00Z",       // day 0
           "2024-01-32T00:00:00Z",       // day 32
           "2024-04-31T00:00:00Z",       // April has 30 days
           "2023-02-29T00:00:00Z",       // not a leap year
           "1900-02-29T00:00:00Z",       // century, not a leap year
           "2024-02-30T00:00:00Z",       //
           "2024-01-01T24:00:00Z",       // hour 24
           "2024-01-01T00:60:00Z",       // minute 60
           "2024-01-01T00:00:61Z",       // second 61
           "2024-01-01T0a:00:00Z",       // letter
           "2024/01/01T00:00:00Z",       // slashes
           "1709210096789",              // a number, not a time
           "2024-01-01T00:00:00\xff",    // not ASCII
       }) {
    EXPECT_EQ(ParseTimestamp(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(Timestamp, RoundTripsEveryMillisecondValue) {
  for (int64_t ms : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{999}, int64_t{86399999},
                     int64_t{86400000}, int64_t{1709210096789}, int64_t{951782400000},
                     int64_t{4102444800000}, int64_t{-62135596800000}, int64_t{253402300799999}}) {
    EXPECT_EQ(ParseTimestamp(FormatTimestamp(ms)), ms) << FormatTimestamp(ms);
  }
  // Every day of a leap year and the next one.
  for (int64_t day = 0; day < 731; ++day) {
    const int64_t ms = 1704067200000 + day * 86400000 + 45296789;  // 2024-01-01 + 12:34:56.789
    EXPECT_EQ(ParseTimestamp(FormatTimestamp(ms)), ms) << FormatTimestamp(ms);
  }
}

TEST(Timestamp, RefusesInstantsItCouldNotWriteBack) {
  // Valid text whose instant falls outside years 0000-9999 once the offset is applied.
  EXPECT_EQ(ParseTimestamp("0000-01-01T00:00:00+23:59"), std::nullopt);
  EXPECT_EQ(ParseTimestamp("0000-01-01T00:00:00.000+00:01"), std::nullopt);
  EXPECT_EQ(ParseTimestamp("9999-12-31T23:59:59-00:01"), std::nullopt);
  EXPECT_EQ(ParseTimestamp("9999-12-31T23:59:59.999-23:59"), std::nullopt);
  // The limits themselves, written any way, still parse and format back.
  EXPECT_EQ(ParseTimestamp("0000-01-01T00:00:00Z"), kMinTimestampMs);
  EXPECT_EQ(ParseTimestamp("0000-01-01T23:59:00+23:59"), kMinTimestampMs);
  EXPECT_EQ(ParseTimestamp("9999-12-31T23:59:59.999Z"), kMaxTimestampMs);
  EXPECT_EQ(ParseTimestamp("9999-12-31T00:00:59.999-23:59"), kMaxTimestampMs);
  EXPECT_EQ(FormatTimestamp(kMinTimestampMs), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(kMaxTimestampMs), "9999-12-31T23:59:59.999Z");
  // Every offset at the edges: whatever parses formats as RFC 3339 and parses back to itself.
  for (const char* base : {"0000-01-01T00:30:00", "9999-12-31T23:30:00"}) {
    for (int minutes = -(23 * 60 + 59); minutes <= 23 * 60 + 59; minutes += 7) {
      char text[40];
      const int a = minutes < 0 ? -minutes : minutes;
      std::snprintf(text, sizeof text, "%s%c%02d:%02d", base, minutes < 0 ? '-' : '+', a / 60,
                    a % 60);
      if (auto ms = ParseTimestamp(text)) {
        const std::string back = FormatTimestamp(*ms);
        EXPECT_EQ(back.size(), 24u) << text << " -> " << back;
        EXPECT_EQ(ParseTimestamp(back), ms) << text << " -> " << back;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Model JSON

Webhook SampleWebhook() {
  Webhook w;
  w.id = "wh_2f9c";
  w.team_id = "team_7";
  w.url = "https://hooks.example.com/mambo?x=1";
  w.events = {"device.enroll", "policy.update"};
  w.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  w.active = false;
  w.description = "Caf\xc3\xa9 \"prod\" \xf0\x9f\x9a\x80";
  w.disabled_reason = "Disabled after 5 days of failures";
  w.created_at = 1709210096789;
  w.updated_at = 1795918752123;
  return w;
}

TEST(Json, WebhookRoundTripsEveryFieldButTheSecretsValue) {
  const Webhook w = SampleWebhook();
  const Json j = w;
  const Webhook back = j.get<Webhook>();
  EXPECT_EQ(back.id, w.id);
  EXPECT_EQ(back.team_id, w.team_id);
  EXPECT_EQ(back.url, w.url);
  EXPECT_EQ(back.events, w.events);
  EXPECT_EQ(back.active, w.active);
  EXPECT_EQ(back.description, w.description);
  EXPECT_EQ(back.disabled_reason, w.disabled_reason);
  EXPECT_EQ(back.created_at, w.created_at);
  EXPECT_EQ(back.updated_at, w.updated_at);
  EXPECT_EQ(back.secret, std::string()) << "that there is one (has_secret), not its value";
  Webhook none = w;
  none.secret.reset();
  EXPECT_EQ(Json(none).get<Webhook>().secret, std::nullopt);
}

// What the console reads the API with: never a throw (it runs without exception catching), a
// document that is not a webhook or delivery is nullopt, a field of the wrong type its default.
TEST(Json, ReadersNeverThrowOnWhatIsNotAModel) {
  for (const Json& j : {Json(), Json::array(), Json("x"), Json{{"id", 1}, {"url", "u"}},
                        Json{{"url", "https://a.example"}}}) {
    EXPECT_EQ(WebhookFromJson(j), std::nullopt) << j.dump();
    EXPECT_EQ(DeliveryFromJson(j.is_object() && j.contains("url") ? Json::object() : j),
              std::nullopt)
        << j.dump();
  }
  const auto w = WebhookFromJson(Json{{"id", "wh_1"},
                                      {"url", "https://a.example/h"},
                                      {"events", {"device.enroll", 7, nullptr}},
                                      {"active", "yes"},
                                      {"rate_limit_per_second", "fast"},
                                      {"created_at", 12},
                                      {"headers", Json::array()}});
  ASSERT_TRUE(w);
  EXPECT_EQ(w->events, std::vector<std::string>{"device.enroll"});
  EXPECT_TRUE(w->active);
  EXPECT_EQ(w->rate_limit_per_second, std::nullopt);
  EXPECT_EQ(w->created_at, 0);
  const auto d = DeliveryFromJson(
      Json{{"id", "dlv_1"},
           {"status", "sideways"},
           {"last_cause", 3},
           {"attempts",
            {Json::object(), {{"id", "att_1"}, {"request_headers", {{"a", "b"}, {"c"}, 5}}}}}});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, DeliveryStatus::kPending);
  EXPECT_EQ(d->last_cause, FailureCause::kNone);
  ASSERT_EQ(d->attempts.size(), 1u) << "the attempt without an id is left out";
  EXPECT_EQ(d->attempts[0].request_headers, (Headers{{"a", "b"}}));
}

TEST(Json, WebhookNeverSerialisesTheSecret) {
  Webhook w = SampleWebhook();
  const Json j = w;
  EXPECT_FALSE(j.contains("secret"));
  EXPECT_EQ(j.at("has_secret"), true);
  EXPECT_EQ(j.dump().find("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::string::npos) << j.dump();
  w.secret = "a plain secret of some length";
  EXPECT_EQ(Json(w).dump().find("plain secret"), std::string::npos);
  w.secret.reset();
  EXPECT_EQ(Json(w).at("has_secret"), false);
}

TEST(Json, WebhookFieldsAndTimesAreRfc3339) {
  const Json j = SampleWebhook();
  EXPECT_EQ(j.at("created_at"), "2024-02-29T12:34:56.789Z");
  EXPECT_EQ(j.at("updated_at"), "2026-11-29T02:19:12.123Z");
  EXPECT_EQ(j.at("events"), Json::array({"device.enroll", "policy.update"}));
  EXPECT_EQ(j.at("active"), false);
}

TEST(Json, WebhookAbsentOptionalsAreNullAndRoundTrip) {
  Webhook w = SampleWebhook();
  w.description.reset();
  w.disabled_reason.reset();
  const Json j = w;
  EXPECT_TRUE(j.at("description").is_null());
  EXPECT_TRUE(j.at("disabled_reason").is_null());
  const Webhook back = j.get<Webhook>();
  EXPECT_EQ(back.description, std::nullopt);
  EXPECT_EQ(back.disabled_reason, std::nullopt);
}

TEST(Json, WebhookFromStoreRecordReadsTheSecret) {
  Json j = SampleWebhook();
  j["secret"] = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
  EXPECT_EQ(j.get<Webhook>().secret, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
}

TEST(Json, EventRoundTrips) {
  Event e;
  e.id = "evt_1";
  e.type = "device.enroll";
  e.team_id = "team_7";
  e.timestamp = 1709157600000;
  e.data = Json{{"device", {{"id", "d-1"}, {"serial", "SN 42"}}}, {"tags", {1, 2.5, nullptr}}};
  const Json j = e;
  EXPECT_EQ(j.at("timestamp"), "2024-02-28T22:00:00.000Z");
  const Event back = j.get<Event>();
  EXPECT_EQ(back.id, e.id);
  EXPECT_EQ(back.type, e.type);
  EXPECT_EQ(back.team_id, e.team_id);
  EXPECT_EQ(back.timestamp, e.timestamp);
  EXPECT_EQ(back.data, e.data);
}

DeliveryAttempt SampleAttempt(int number) {
  DeliveryAttempt a;
  a.id = "att_" + std::to_string(number);
  a.delivery_id = "dlv_1";
  a.number = number;
  a.started_at = 1709210096789 + number;
  a.duration_ms = 1234;
  a.http_status = 503;
  a.cause = FailureCause::kHttpStatus;
  a.error = "Service Unavailable";
  a.request_headers = {{"webhook-id", "msg_1"}, {"content-type", "application/json"}};
  a.response_headers = {{"retry-after", "30"}, {"set-cookie", "a=1"}, {"set-cookie", "b=2"}};
  a.response_excerpt = "{\"error\":\"busy\"}";
  a.response_truncated = true;
  return a;
}

void ExpectSameAttempt(const DeliveryAttempt& a, const DeliveryAttempt& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.delivery_id, b.delivery_id);
  EXPECT_EQ(a.number, b.number);
  EXPECT_EQ(a.started_at, b.started_at);
  EXPECT_EQ(a.duration_ms, b.duration_ms);
  EXPECT_EQ(a.http_status, b.http_status);
  EXPECT_EQ(a.cause, b.cause);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.request_headers, b.request_headers);
  EXPECT_EQ(a.response_headers, b.response_headers);
  EXPECT_EQ(a.response_excerpt, b.response_excerpt);
  EXPECT_EQ(a.response_truncated, b.response_truncated);
}

TEST(Json, DeliveryAttemptRoundTrips) {
  const DeliveryAttempt a = SampleAttempt(2);
  const Json j = a;
  EXPECT_EQ(j.at("cause"), "http_status");
  EXPECT_EQ(j.at("http_status"), 503);
  EXPECT_EQ(j.at("started_at"), "2024-02-29T12:34:56.791Z");
  ExpectSameAttempt(j.get<DeliveryAttempt>(), a);
}

TEST(Json, DeliveryAttemptWithoutResponseRoundTrips) {
  DeliveryAttempt a = SampleAttempt(1);
  a.http_status.reset();
  a.cause = FailureCause::kConnect;
  a.error = "connection refused";
  a.response_headers.clear();
  a.response_excerpt.clear();
  a.response_truncated = false;
  const Json j = a;
  EXPECT_TRUE(j.at("http_status").is_null());
  EXPECT_EQ(j.at("cause"), "connect");
  ExpectSameAttempt(j.get<DeliveryAttempt>(), a);
}

TEST(Json, FailureCausesAreStringsAndNoneIsNull) {
  const std::vector<std::pair<FailureCause, const char*>> causes = {
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
  };
  for (const auto& [cause, text] : causes) {
    EXPECT_EQ(Json(cause), text);
    EXPECT_EQ(ToString(cause), text);
    EXPECT_EQ(Json(text).get<FailureCause>(), cause);
  }
  EXPECT_TRUE(Json(FailureCause::kNone).is_null());
  EXPECT_EQ(ToString(FailureCause::kNone), "");
  EXPECT_EQ(Json(nullptr).get<FailureCause>(), FailureCause::kNone);
}

TEST(Json, DeliveryStatusesAreStrings) {
  const std::vector<std::pair<DeliveryStatus, const char*>> statuses = {
      {DeliveryStatus::kPending, "pending"},     {DeliveryStatus::kInFlight, "in_flight"},
      {DeliveryStatus::kSucceeded, "succeeded"}, {DeliveryStatus::kFailed, "failed"},
      {DeliveryStatus::kExhausted, "exhausted"}, {DeliveryStatus::kCancelled, "cancelled"},
  };
  for (const auto& [status, text] : statuses) {
    EXPECT_EQ(Json(status), text);
    EXPECT_EQ(ToString(status), text);
    EXPECT_EQ(ParseDeliveryStatus(text), status);
    EXPECT_EQ(Json(text).get<DeliveryStatus>(), status);
  }
  EXPECT_EQ(ParseDeliveryStatus("Pending"), std::nullopt);
  EXPECT_EQ(ParseDeliveryStatus(""), std::nullopt);
  EXPECT_EQ(ParseDeliveryStatus("in-flight"), std::nullopt);
}

Delivery SampleDelivery() {
  Delivery d;
  d.id = "dlv_1";
  d.webhook_id = "wh_2f9c";
  d.team_id = "team_7";
  d.event_id = "evt_1";
  d.event_type = "device.enroll";
  d.status = DeliveryStatus::kFailed;
  d.attempt_count = 2;
  d.created_at = 1709210096000;
  d.updated_at = 1709210099000;
  d.next_attempt_at = 1709210396000;
  d.last_http_status = 503;
  d.last_cause = FailureCause::kHttpStatus;
  d.attempts = {SampleAttempt(1), SampleAttempt(2)};
  return d;
}

void ExpectSameDelivery(const Delivery& a, const Delivery& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.webhook_id, b.webhook_id);
  EXPECT_EQ(a.team_id, b.team_id);
  EXPECT_EQ(a.event_id, b.event_id);
  EXPECT_EQ(a.event_type, b.event_type);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.attempt_count, b.attempt_count);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.updated_at, b.updated_at);
  EXPECT_EQ(a.next_attempt_at, b.next_attempt_at);
  EXPECT_EQ(a.last_http_status, b.last_http_status);
  EXPECT_EQ(a.last_cause, b.last_cause);
  ASSERT_EQ(a.attempts.size(), b.attempts.size());
  for (size_t i = 0; i < a.attempts.size(); ++i) ExpectSameAttempt(a.attempts[i], b.attempts[i]);
}

TEST(Json, DeliveryRoundTripsWithAttempts) {
  const Delivery d = SampleDelivery();
  const Json j = d;
  EXPECT_EQ(j.at("status"), "failed");
  EXPECT_EQ(j.at("last_cause"), "http_status");
  EXPECT_EQ(j.at("next_attempt_at"), "2024-02-29T12:39:56.000Z");
  ASSERT_TRUE(j.at("attempts").is_array());
  EXPECT_EQ(j.at("attempts").size(), 2u);
  ExpectSameDelivery(j.get<Delivery>(), d);
}

TEST(Json, SucceededDeliveryRoundTripsWithNulls) {
  Delivery d = SampleDelivery();
  d.status = DeliveryStatus::kSucceeded;
  d.next_attempt_at = 0;
  d.last_http_status.reset();
  d.last_cause = FailureCause::kNone;
  d.attempts.clear();
  const Json j = d;
  EXPECT_TRUE(j.at("next_attempt_at").is_null());
  EXPECT_TRUE(j.at("last_http_status").is_null());
  EXPECT_TRUE(j.at("last_cause").is_null());
  EXPECT_FALSE(j.contains("attempts"));
  ExpectSameDelivery(j.get<Delivery>(), d);
}

TEST(Json, ParseJsonNeverThrows) {
  EXPECT_TRUE(ParseJson("{\"a\": [1, 2]}").has_value());
  EXPECT_TRUE(ParseJson(" null ").has_value());
  for (const char* text : {"", "{", "[1,]", "{\"a\" 1}", "nul", "01", "1e999", "\"\\ud800\"",
                           "\"\xff\"", "{} {}", "/* c */ {}", "'a'", "NaN", "[\"a\"\n"}) {
    EXPECT_EQ(ParseJson(text), std::nullopt) << text;
  }
  EXPECT_EQ(ParseJson(std::string(100000, '[')), std::nullopt);
  // Well formed but deeper than kMaxJsonDepth: refused too (text_test.cpp has the limit).
  EXPECT_EQ(ParseJson(std::string(100000, '[') + std::string(100000, ']')), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// ParseWebhookInput

FieldErrors Parse(const std::string& body, InputMode mode = InputMode::kUpdate) {
  WebhookInput out;
  return ParseWebhookInput(body, mode, out);
}

const FieldErrors kNotJson = {{"", "Request body is not valid JSON"}};
const FieldErrors kNotObject = {{"", "Request body must be a JSON object"}};

TEST(WebhookInput, ValidCreateFillsEveryField) {
  WebhookInput in;
  const FieldErrors errors = ParseWebhookInput(
      R"({"url": "https://example.com/hook", "events": ["device.enroll", "team.update"],
          "secret": "generate", "active": false, "description": "Caf\u00e9"})",
      InputMode::kCreate, in);
  EXPECT_EQ(errors, FieldErrors{});
  EXPECT_EQ(in.url, "https://example.com/hook");
  EXPECT_EQ(in.events, (std::vector<std::string>{"device.enroll", "team.update"}));
  EXPECT_EQ(in.secret, "generate");
  EXPECT_FALSE(in.clear_secret);
  EXPECT_EQ(in.active, false);
  EXPECT_EQ(in.description, "Caf\xc3\xa9");
  EXPECT_FALSE(in.clear_description);
}

TEST(WebhookInput, RateLimitIsAWholeNumberInRangeOrNull) {
  WebhookInput in;
  EXPECT_EQ(ParseWebhookInput(R"({"rate_limit_per_second": 5})", InputMode::kUpdate, in),
            FieldErrors{});
  EXPECT_EQ(in.rate_limit_per_second, 5);
  EXPECT_EQ(ParseWebhookInput(R"({"rate_limit_per_second": null})", InputMode::kUpdate, in),
            FieldErrors{});
  EXPECT_TRUE(in.clear_rate_limit);
  EXPECT_EQ(in.rate_limit_per_second, std::nullopt);
  for (const char* bad : {"0", "10001", "2.5", "\"5\"", "-1", "true"}) {
    SCOPED_TRACE(bad);
    const FieldErrors errors = ParseWebhookInput(
        std::string(R"({"rate_limit_per_second": )") + bad + "}", InputMode::kUpdate, in);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].field, "rate_limit_per_second");
    EXPECT_EQ(errors[0].message,
              "Must be a whole number of requests a second from 1 to 10000, or null for no "
              "limit");
  }
  Webhook w;
  w.id = "wh_1";
  w.rate_limit_per_second = 7;
  EXPECT_EQ(Json(w)["rate_limit_per_second"], 7);
  w.rate_limit_per_second.reset();
  EXPECT_TRUE(Json(w)["rate_limit_per_second"].is_null());
}

// Custom headers: a name -> value object; names are HTTP tokens none of which webhookd sets
// itself, values one line of text; the set bounded. Update takes a merge patch.
TEST(WebhookInput, CustomHeadersAreCheckedNameByName) {
  WebhookInput in;
  EXPECT_EQ(ParseWebhookInput(R"({"url":"https://a.example","events":["device.enroll"],)"
                              R"("headers":{"X-Api-Key":"k 1","Authorization":"Bearer t"}})",
                              InputMode::kCreate, in),
            FieldErrors{});
  ASSERT_TRUE(in.headers);
  EXPECT_EQ(ApplyHeaderChanges({}, *in.headers),
            (Headers{{"Authorization", "Bearer t"}, {"X-Api-Key", "k 1"}}));

  struct Case {
    const char* headers;
    const char* field;
    const char* message;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"({"X Key":"v"})", "headers/X Key",
            "Header name may hold only letters, digits and !#$%&'*+-.^_`|~"},
           {R"({"":"v"})", "headers/", "Header name must not be empty"},
           {R"({"a/b":"v"})", "headers/a~1b",
            "Header name may hold only letters, digits and !#$%&'*+-.^_`|~"},
           {R"({"Webhook-Signature":"v"})", "headers/Webhook-Signature",
            "Header names starting with webhook- are set by webhookd (id, timestamp, signature)"},
           {R"({"content-TYPE":"v"})", "headers/content-TYPE",
            "Header content-TYPE is set by webhookd itself"},
           {R"({"Host":"v"})", "headers/Host", "Header Host is set by webhookd itself"},
           {R"({"Transfer-Encoding":"v"})", "headers/Transfer-Encoding",
            "Header Transfer-Encoding is set by webhookd itself"},
           {R"({"X-A":"a\r\nX-B: b"})", "headers/X-A", "Header value must not contain line breaks"},
           {R"({"X-A":"a\nb"})", "headers/X-A", "Header value must not contain line breaks"},
           {R"({"X-A":"a\u0000b"})", "headers/X-A",
            "Header value must not contain control characters"},
           {R"({"X-A":" padded"})", "headers/X-A",
            "Header value must not start or end with a space"},
           {R"({"X-A":1})", "headers/X-A", "Must be a string, not a number"},
           {R"({"X-A":"1","x-a":"2"})", "headers/x-a",
            "Header x-a is given twice (names ignore case)"},
           {R"(["X-A"])", "headers", "Must be an object of header names and values, not an array"},
           {R"(null)", "headers", "Must be an object of header names and values, not null"},
       }) {
    SCOPED_TRACE(c.headers);
    const FieldErrors errors = ParseWebhookInput(
        std::string(R"({"url":"https://a.example","events":["device.enroll"],"headers":)") +
            c.headers + "}",
        InputMode::kCreate, in);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].field, c.field);
    EXPECT_EQ(errors[0].message, c.message);
  }
  // Non-ASCII text is a value like any other.
  EXPECT_EQ(ParseWebhookInput(R"({"headers":{"X-Team":"Zürich"}})", InputMode::kUpdate, in),
            FieldErrors{});
}

TEST(WebhookInput, CustomHeadersAreBoundedAsASet) {
  Json many = Json::object();
  for (int i = 0; i < 21; ++i) many["X-H" + std::to_string(i)] = "v";
  WebhookInput in;
  FieldErrors errors = ParseWebhookInput(
      Json{{"url", "https://a.example"}, {"events", {"device.enroll"}}, {"headers", many}}.dump(),
      InputMode::kCreate, in);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], (FieldError{"headers", "At most 20 custom headers (there are 21)"}));
  // 8 KiB of names and values: exactly that is accepted, one byte more is not.
  Headers big = {{"X-Big", std::string(8 * 1024 - 5, 'a')}};
  EXPECT_EQ(HeadersErrors(big), FieldErrors{});
  big[0].second += 'a';
  EXPECT_EQ(HeadersErrors(big),
            (FieldErrors{{"headers",
                          "Custom headers must hold at most 8 KiB of names and values "
                          "together (they hold 8193 bytes)"}}));
  // An update is only checked for names given twice; the set it makes, by the caller.
  errors = ParseWebhookInput(Json{{"headers", many}}.dump(), InputMode::kUpdate, in);
  EXPECT_EQ(errors, FieldErrors{});
}

TEST(WebhookInput, CustomHeaderChangesMergeIntoTheCurrentSet) {
  WebhookInput in;
  ASSERT_EQ(ParseWebhookInput(R"({"headers":{"x-api-key":"new","X-Gone":null,"X-Add":"a"}})",
                              InputMode::kUpdate, in),
            FieldErrors{});
  const Headers current = {{"X-Api-Key", "old"}, {"X-Gone", "g"}, {"X-Keep", "k"}};
  EXPECT_EQ(ApplyHeaderChanges(current, *in.headers),
            (Headers{{"x-api-key", "new"}, {"X-Keep", "k"}, {"X-Add", "a"}}));
  ASSERT_EQ(ParseWebhookInput(R"({"headers":null})", InputMode::kUpdate, in), FieldErrors{});
  EXPECT_TRUE(in.clear_headers);
  // Null removes only on update; a create has nothing to remove.
  FieldErrors errors = ParseWebhookInput(
      R"({"url":"https://a.example","events":["device.enroll"],"headers":{"X-A":null}})",
      InputMode::kCreate, in);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], (FieldError{"headers/X-A", "Must be a string, not null"}));
  errors = ParseWebhookInput(R"({"headers":{"X-A":5}})", InputMode::kUpdate, in);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0],
            (FieldError{"headers/X-A", "Must be a string, or null to remove it, not a number"}));
}

// Every serialised webhook shows the names of its headers and never their values.
TEST(WebhookJson, CustomHeaderValuesAreMasked) {
  Webhook w;
  w.id = "wh_1";
  w.headers = {{"Authorization", "Bearer s3cret"}, {"X-Env", "prod"}};
  const Json j = w;
  EXPECT_EQ(j["headers"], (Json{{"Authorization", "********"}, {"X-Env", "********"}}));
  EXPECT_EQ(j.dump().find("s3cret"), std::string::npos);
  Webhook none;
  EXPECT_EQ(Json(none)["headers"], Json::object());
}

TEST(WebhookInput, MalformedJsonIsOneErrorOnTheEmptyField) {
  for (const char* body :
       {"", " ", "{", "{\"url\": ", "{\"url\": \"https://a.com\"", "{\"url\": \"https://a.com}",
        "{url: 1}", "{'url': 'x'}", "{\"a\":1,}", "{} []", "{}}", "\"\\ud800\"", "\xef\xbb\xbf{",
        "{\"description\": \"\xff\"}", "{\"active\": tru}", "{\"active\": 1e999}"}) {
    EXPECT_EQ(Parse(body), kNotJson) << body;
    EXPECT_EQ(Parse(body, InputMode::kCreate), kNotJson) << body;
  }
}

TEST(WebhookInput, BodyMustBeAnObject) {
  for (const char* body :
       {"[]", "[{\"url\": \"https://a.com\"}]", "1", "-2.5", "\"url\"", "true", "null"}) {
    EXPECT_EQ(Parse(body), kNotObject) << body;
    EXPECT_EQ(Parse(body, InputMode::kCreate), kNotObject) << body;
  }
}

TEST(WebhookInput, DeeplyNestedBodyDoesNotCrash) {
  const std::string deep = std::string(50000, '[') + std::string(50000, ']');
  const FieldErrors kTooDeep = {{"", "JSON is nested deeper than 64 levels"}};
  EXPECT_EQ(Parse(deep), kTooDeep);
  EXPECT_EQ(Parse("{\"description\": " + deep + "}"), kTooDeep);
  const std::string shallow = std::string(60, '[') + std::string(60, ']');
  EXPECT_EQ(Parse("{\"description\": " + shallow + "}"),
            (FieldErrors{{"description", "Must be a string or null, not an array"}}));
}

TEST(WebhookInput, CreateRequiresUrlAndEvents) {
  EXPECT_EQ(Parse("{}", InputMode::kCreate),
            (FieldErrors{{"url", "URL is required"}, {"events", "Select at least one event"}}));
  EXPECT_EQ(Parse(R"({"url": "https://a.com"})", InputMode::kCreate),
            (FieldErrors{{"events", "Select at least one event"}}));
  EXPECT_EQ(Parse(R"({"events": ["team.update"]})", InputMode::kCreate),
            (FieldErrors{{"url", "URL is required"}}));
  EXPECT_EQ(Parse(R"({"url": "", "events": []})", InputMode::kCreate),
            (FieldErrors{{"events", "Select at least one event"}, {"url", "URL is required"}}));
}

TEST(WebhookInput, UpdateAllowsPartialBodies) {
  WebhookInput in;
  EXPECT_EQ(ParseWebhookInput("{}", InputMode::kUpdate, in), FieldErrors{});
  EXPECT_FALSE(in.url || in.events || in.secret || in.active || in.description);
  EXPECT_FALSE(in.clear_secret || in.clear_description);

  EXPECT_EQ(ParseWebhookInput(R"({"active": true})", InputMode::kUpdate, in), FieldErrors{});
  EXPECT_EQ(in.active, true);
  EXPECT_FALSE(in.url.has_value());

  EXPECT_EQ(ParseWebhookInput(R"({"url": "https://b.example/x"})", InputMode::kUpdate, in),
            FieldErrors{});
  EXPECT_EQ(in.url, "https://b.example/x");
  EXPECT_FALSE(in.active.has_value());  // the previous call's value does not leak
}

TEST(WebhookInput, NullClearsDescriptionAndSecret) {
  WebhookInput in;
  EXPECT_EQ(ParseWebhookInput(R"({"description": null, "secret": null})", InputMode::kUpdate, in),
            FieldErrors{});
  EXPECT_TRUE(in.clear_description);
  EXPECT_TRUE(in.clear_secret);
  EXPECT_FALSE(in.description.has_value());
  EXPECT_FALSE(in.secret.has_value());
}

TEST(WebhookInput, WrongTypesNameTheFieldAndTheTypes) {
  EXPECT_EQ(Parse(R"({"url": 5})"), (FieldErrors{{"url", "Must be a string, not a number"}}));
  EXPECT_EQ(Parse(R"({"url": null})"), (FieldErrors{{"url", "Must be a string, not null"}}));
  EXPECT_EQ(Parse(R"({"url": ["https://a.com"]})"),
            (FieldErrors{{"url", "Must be a string, not an array"}}));
  EXPECT_EQ(Parse(R"({"events": "team.update"})"),
            (FieldErrors{{"events", "Must be an array of event type ids, not a string"}}));
  EXPECT_EQ(Parse(R"({"events": {"0": "team.update"}})"),
            (FieldErrors{{"events", "Must be an array of event type ids, not an object"}}));
  EXPECT_EQ(Parse(R"({"events": null})"),
            (FieldErrors{{"events", "Must be an array of event type ids, not null"}}));
  EXPECT_EQ(Parse(R"({"events": ["team.update", 7, null, ["x"]]})"),
            (FieldErrors{{"events[1]", "Must be a string, not a number"},
                         {"events[2]", "Must be a string, not null"},
                         {"events[3]", "Must be a string, not an array"}}));
  EXPECT_EQ(Parse(R"({"secret": 123456789012345678})"),
            (FieldErrors{{"secret", "Must be a string or null, not a number"}}));
  EXPECT_EQ(Parse(R"({"secret": false})"),
            (FieldErrors{{"secret", "Must be a string or null, not a boolean"}}));
  EXPECT_EQ(Parse(R"({"active": "true"})"),
            (FieldErrors{{"active", "Must be true or false, not a string"}}));
  EXPECT_EQ(Parse(R"({"active": 1})"),
            (FieldErrors{{"active", "Must be true or false, not a number"}}));
  EXPECT_EQ(Parse(R"({"active": null})"),
            (FieldErrors{{"active", "Must be true or false, not null"}}));
  EXPECT_EQ(Parse(R"({"description": {}})"),
            (FieldErrors{{"description", "Must be a string or null, not an object"}}));
  EXPECT_EQ(Parse(R"({"description": -0.5})"),
            (FieldErrors{{"description", "Must be a string or null, not a number"}}));
}

TEST(WebhookInput, UnknownFieldsAreReportedByName) {
  EXPECT_EQ(Parse(R"({"URL": "https://a.com"})"), (FieldErrors{{"URL", "Unknown field"}}));
  EXPECT_EQ(Parse(R"({"id": "wh_1", "team_id": "t"})"),
            (FieldErrors{{"id", "Unknown field"}, {"team_id", "Unknown field"}}));
  EXPECT_EQ(Parse(R"({"": 1})"), (FieldErrors{{"", "Unknown field"}}));
  // Fields are reported in name order, after which create mode adds what is missing.
  EXPECT_EQ(Parse(R"({"zz": 1, "active": "no"})", InputMode::kCreate),
            (FieldErrors{{"active", "Must be true or false, not a string"},
                         {"zz", "Unknown field"},
                         {"url", "URL is required"},
                         {"events", "Select at least one event"}}));
}

TEST(WebhookInput, InvalidValuesCarryTheValidatorsMessages) {
  EXPECT_EQ(Parse(R"({"url": "http://a.com"})"), (FieldErrors{{"url", "URL must use https"}}));
  EXPECT_EQ(Parse(R"({"url": "https://a.com/\r\nX: 1"})"),
            (FieldErrors{{"url", "URL must not contain whitespace or control characters"}}));
  EXPECT_EQ(Parse(R"({"events": []})"), (FieldErrors{{"events", "Select at least one event"}}));
  // Operational notices are subscribable beside the catalog's types; the test event is not.
  EXPECT_EQ(Parse(R"({"events": ["webhook.disabled", "team.update", "webhook.recovered"]})"),
            FieldErrors{});
  EXPECT_EQ(Parse(R"({"events": ["webhook.test"]})"),
            (FieldErrors{{"events[0]", "Unknown event type \"webhook.test\""}}));
  EXPECT_EQ(Parse(R"({"events": ["team.update", "nope", "team.update"]})"),
            (FieldErrors{{"events[1]", "Unknown event type \"nope\""},
                         {"events[2]", "Event type \"team.update\" is listed twice"}}));
  EXPECT_EQ(Parse(R"({"secret": "short"})"),
            (FieldErrors{{"secret", std::string(kSecretFormMessage)}}));
  EXPECT_EQ(
      Parse(R"({"secret": "whsec_AAAA"})"),
      (FieldErrors{
          {"secret", "Secret starting with whsec_ must encode 24 to 64 bytes (it encodes 3)"}}));
  EXPECT_EQ(Parse(R"({"secret": "0123456789abcdef\u00e9"})"),
            (FieldErrors{{"secret", std::string(kSecretFormMessage)}}));
  EXPECT_EQ(Parse("{\"description\": \"" + std::string(257, 'x') + "\"}"),
            (FieldErrors{{"description", "Description must be at most 256 characters"}}));
  EXPECT_EQ(Parse("{\"description\": \"" + std::string(256, 'x') + "\"}"), FieldErrors{});
  // 256 code points written as JSON escapes are 256 characters, not 1536.
  std::string escaped;
  for (int i = 0; i < 256; ++i) escaped += "\\u20ac";
  EXPECT_EQ(Parse("{\"description\": \"" + escaped + "\"}"), FieldErrors{});
}

TEST(WebhookInput, EveryFieldWrongAtOnce) {
  EXPECT_EQ(
      Parse(R"({"url": "ftp://a", "events": ["x"], "secret": 1, "active": [], "description": 2,
               "extra": {}})",
            InputMode::kCreate),
      (FieldErrors{{"active", "Must be true or false, not an array"},
                   {"description", "Must be a string or null, not a number"},
                   {"events[0]", "Unknown event type \"x\""},
                   {"extra", "Unknown field"},
                   {"secret", "Must be a string or null, not a number"},
                   {"url", "URL must use https"}}));
}

TEST(WebhookInput, ErrorsSerialiseAsFieldAndMessage) {
  const Json j = FieldError{"events[2]", "Unknown event type \"x\""};
  EXPECT_EQ(j, (Json{{"field", "events[2]"}, {"message", "Unknown event type \"x\""}}));
  EXPECT_EQ(Json(Parse("[]")).dump(),
            R"([{"field":"","message":"Request body must be a JSON object"}])");
}

}  // namespace
}  // namespace mambo
