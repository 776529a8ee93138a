#include "mambo/models.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "mambo/text.h"

namespace mambo {

// H. Hinnant's public-domain algorithms, here and in CivilFromDays below.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

namespace {

// The inverse of DaysFromCivil.
void CivilFromDays(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool ReadDigits(std::string_view text, size_t pos, size_t count, int& out) {
  if (pos + count > text.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

// Non-throwing field reads: a field that is missing or of another type is absent.
const Json* Field(const Json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::optional<std::string> StrField(const Json& j, const char* key) {
  const Json* f = Field(j, key);
  if (f == nullptr || !f->is_string()) return std::nullopt;
  return f->get<std::string>();
}

std::optional<int64_t> IntField(const Json& j, const char* key) {
  const Json* f = Field(j, key);
  if (f == nullptr || !f->is_number_integer()) return std::nullopt;
  return f->get<int64_t>();
}

bool BoolField(const Json& j, const char* key, bool fallback) {
  const Json* f = Field(j, key);
  return f != nullptr && f->is_boolean() ? f->get<bool>() : fallback;
}

FailureCause CauseField(const Json& j, const char* key) {
  const Json* f = Field(j, key);
  if (f == nullptr || !(f->is_string() || f->is_null())) return FailureCause::kNone;
  return f->get<FailureCause>();  // the enum's table: an unknown name is kNone, never a throw
}

// [[name, value], ...]; malformed entries are left out.
Headers HeadersField(const Json& j, const char* key) {
  Headers out;
  const Json* f = Field(j, key);
  if (f == nullptr || !f->is_array()) return out;
  for (const Json& h : *f) {
    if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
      out.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
    }
  }
  return out;
}

int64_t TimeField(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return 0;
  return ParseTimestamp(it->get<std::string>()).value_or(0);
}

}  // namespace

std::string_view ToString(DeliveryStatus status) {
  switch (status) {
    case DeliveryStatus::kPending:
      return "pending";
    case DeliveryStatus::kInFlight:
      return "in_flight";
    case DeliveryStatus::kSucceeded:
      return "succeeded";
    case DeliveryStatus::kFailed:
      return "failed";
    case DeliveryStatus::kExhausted:
      return "exhausted";
    case DeliveryStatus::kCancelled:
      return "cancelled";
  }
  return "pending";
}

std::optional<DeliveryStatus> ParseDeliveryStatus(std::string_view text) {
  for (auto s : {DeliveryStatus::kPending, DeliveryStatus::kInFlight, DeliveryStatus::kSucceeded,
                 DeliveryStatus::kFailed, DeliveryStatus::kExhausted, DeliveryStatus::kCancelled}) {
    if (ToString(s) == text) return s;
  }
  return std::nullopt;
}

std::string_view ToString(FailureCause cause) {
  switch (cause) {
    case FailureCause::kNone:
      return "";
    case FailureCause::kHttpStatus:
      return "http_status";
    case FailureCause::kDns:
      return "dns";
    case FailureCause::kConnect:
      return "connect";
    case FailureCause::kTls:
      return "tls";
    case FailureCause::kTimeout:
      return "timeout";
    case FailureCause::kBlockedAddress:
      return "blocked_address";
    case FailureCause::kResponseTooLarge:
      return "response_too_large";
    case FailureCause::kConnectionClosed:
      return "connection_closed";
    case FailureCause::kInvalidUrl:
      return "invalid_url";
    case FailureCause::kInternal:
      return "internal";
  }
  return "";
}

std::string FormatTimestamp(int64_t unix_ms) {
  int64_t days = unix_ms / 86400000;
  int64_t rem = unix_ms % 86400000;
  if (rem < 0) {
    rem += 86400000;
    --days;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  const int64_t secs = rem / 1000;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60),
                static_cast<long long>(rem % 1000));
  return buf;
}

std::optional<int64_t> ParseTimestamp(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  int year, month, day, hour, minute, second;
  if (t.size() < 20 || !ReadDigits(t, 0, 4, year) || t[4] != '-' || !ReadDigits(t, 5, 2, month) ||
      t[7] != '-' || !ReadDigits(t, 8, 2, day) || (t[10] != 'T' && t[10] != 't') ||
      !ReadDigits(t, 11, 2, hour) || t[13] != ':' || !ReadDigits(t, 14, 2, minute) ||
      t[16] != ':' || !ReadDigits(t, 17, 2, second)) {
    return std::nullopt;
  }
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 ||
      day > kDaysInMonth[month - 1] + (month == 2 && leap ? 1 : 0) || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (t[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 3; ++i) millis *= 10;
  }
  int64_t offset_minutes = 0;
  if (pos < t.size() && (t[pos] == 'Z' || t[pos] == 'z')) {
    ++pos;
  } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
    int oh, om;
    if (!ReadDigits(t, pos + 1, 2, oh) || pos + 3 >= t.size() || t[pos + 3] != ':' ||
        !ReadDigits(t, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (t[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != t.size()) return std::nullopt;
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + std::min(second, 59);
  const int64_t unix_ms = (secs - offset_minutes * 60) * 1000 + millis;
  // An offset can move an instant near year 0 or 9999 out of the four-digit years RFC 3339 can
  // write ("0000-01-01T00:00:00+23:59" is in year -1): what we accept must format back.
  if (unix_ms < kMinTimestampMs || unix_ms > kMaxTimestampMs) return std::nullopt;
  return unix_ms;
}

void to_json(Json& j, const Webhook& w) {
  Json headers = Json::object();
  for (const auto& h : w.headers) headers[h.first] = kMaskedHeaderValue;
  j = Json{{"id", w.id},
           {"team_id", w.team_id},
           {"url", w.url},
           {"events", w.events},
           {"has_secret", w.secret.has_value()},
           {"active", w.active},
           {"description", w.description ? Json(*w.description) : Json(nullptr)},
           {"disabled_reason", w.disabled_reason ? Json(*w.disabled_reason) : Json(nullptr)},
           {"rate_limit_per_second",
            w.rate_limit_per_second ? Json(*w.rate_limit_per_second) : Json(nullptr)},
           {"headers", std::move(headers)},
           {"created_at", FormatTimestamp(w.created_at)},
           {"updated_at", FormatTimestamp(w.updated_at)}};
}

std::optional<Webhook> WebhookFromJson(const Json& j) {
  const auto id = StrField(j, "id");
  const auto url = StrField(j, "url");
  if (!id || !url) return std::nullopt;
  Webhook w;
  w.id = *id;
  w.url = *url;
  w.team_id = StrField(j, "team_id").value_or("");
  if (const Json* events = Field(j, "events"); events && events->is_array()) {
    for (const Json& e : *events) {
      if (e.is_string()) w.events.push_back(e.get<std::string>());
    }
  }
  // The secret's value is in trusted store records only; the API says whether there is one.
  w.secret = StrField(j, "secret");
  if (!w.secret && BoolField(j, "has_secret", false)) w.secret = std::string();
  w.active = BoolField(j, "active", true);
  w.description = StrField(j, "description");
  w.disabled_reason = StrField(j, "disabled_reason");
  if (const auto rate = IntField(j, "rate_limit_per_second")) {
    w.rate_limit_per_second = static_cast<int>(*rate);
  }
  if (const Json* headers = Field(j, "headers"); headers && headers->is_object()) {
    for (const auto& [name, value] : headers->items()) {  // names; values masked (or sealed)
      w.headers.emplace_back(name, value.is_string() ? value.get<std::string>() : "");
    }
  }
  w.created_at = TimeField(j, "created_at");
  w.updated_at = TimeField(j, "updated_at");
  return w;
}

void from_json(const Json& j, Webhook& w) {
  auto v = WebhookFromJson(j);
  if (!v) throw std::invalid_argument("not a webhook: id and url are required");
  w = std::move(*v);
}

void to_json(Json& j, const Event& e) {
  j = Json{{"id", e.id},
           {"type", e.type},
           {"team_id", e.team_id},
           {"timestamp", FormatTimestamp(e.timestamp)},
           {"data", e.data}};
}

void from_json(const Json& j, Event& e) {
  j.at("id").get_to(e.id);
  j.at("type").get_to(e.type);
  j.at("team_id").get_to(e.team_id);
  e.timestamp = TimeField(j, "timestamp");
  e.data = j.value("data", Json::object());
}

void to_json(Json& j, const DeliveryAttempt& a) {
  j = Json{{"id", a.id},
           {"delivery_id", a.delivery_id},
           {"number", a.number},
           {"started_at", FormatTimestamp(a.started_at)},
           {"duration_ms", a.duration_ms},
           {"http_status", a.http_status ? Json(*a.http_status) : Json(nullptr)},
           {"cause", a.cause},
           {"error", a.error},
           {"request_headers", a.request_headers},
           {"response_headers", a.response_headers},
           {"response_excerpt", a.response_excerpt},
           {"response_truncated", a.response_truncated},
           {"response_headers_truncated", a.response_headers_truncated}};
}

std::optional<DeliveryAttempt> AttemptFromJson(const Json& j) {
  const auto id = StrField(j, "id");
  if (!id) return std::nullopt;
  DeliveryAttempt a;
  a.id = *id;
  a.delivery_id = StrField(j, "delivery_id").value_or("");
  a.number = static_cast<int>(IntField(j, "number").value_or(0));
  a.started_at = TimeField(j, "started_at");
  a.duration_ms = IntField(j, "duration_ms").value_or(0);
  if (const auto status = IntField(j, "http_status")) a.http_status = static_cast<int>(*status);
  a.cause = CauseField(j, "cause");
  a.error = StrField(j, "error").value_or("");
  a.request_headers = HeadersField(j, "request_headers");
  a.response_headers = HeadersField(j, "response_headers");
  a.response_excerpt = StrField(j, "response_excerpt").value_or("");
  a.response_truncated = BoolField(j, "response_truncated", false);
  a.response_headers_truncated = BoolField(j, "response_headers_truncated", false);
  return a;
}

void from_json(const Json& j, DeliveryAttempt& a) {
  auto v = AttemptFromJson(j);
  if (!v) throw std::invalid_argument("not an attempt: id is required");
  a = std::move(*v);
}

void to_json(Json& j, const Delivery& d) {
  j = Json{{"id", d.id},
           {"webhook_id", d.webhook_id},
           {"team_id", d.team_id},
           {"event_id", d.event_id},
           {"event_type", d.event_type},
           {"status", d.status},
           {"attempt_count", d.attempt_count},
           {"created_at", FormatTimestamp(d.created_at)},
           {"updated_at", FormatTimestamp(d.updated_at)},
           {"next_attempt_at",
            d.next_attempt_at ? Json(FormatTimestamp(d.next_attempt_at)) : Json(nullptr)},
           {"last_http_status", d.last_http_status ? Json(*d.last_http_status) : Json(nullptr)},
           {"last_cause", d.last_cause}};
  if (!d.attempts.empty()) j["attempts"] = d.attempts;
}

std::optional<Delivery> DeliveryFromJson(const Json& j) {
  const auto id = StrField(j, "id");
  if (!id) return std::nullopt;
  Delivery d;
  d.id = *id;
  d.webhook_id = StrField(j, "webhook_id").value_or("");
  d.team_id = StrField(j, "team_id").value_or("");
  d.event_id = StrField(j, "event_id").value_or("");
  d.event_type = StrField(j, "event_type").value_or("");
  if (const auto status = StrField(j, "status")) {
    d.status = ParseDeliveryStatus(*status).value_or(DeliveryStatus::kPending);
  }
  d.attempt_count = static_cast<int>(IntField(j, "attempt_count").value_or(0));
  d.created_at = TimeField(j, "created_at");
  d.updated_at = TimeField(j, "updated_at");
  d.next_attempt_at = TimeField(j, "next_attempt_at");
  if (const auto status = IntField(j, "last_http_status")) {
    d.last_http_status = static_cast<int>(*status);
  }
  d.last_cause = CauseField(j, "last_cause");
  if (const Json* attempts = Field(j, "attempts"); attempts && attempts->is_array()) {
    for (const Json& a : *attempts) {
      if (auto attempt = AttemptFromJson(a)) d.attempts.push_back(std::move(*attempt));
    }
  }
  return d;
}

void from_json(const Json& j, Delivery& d) {
  auto v = DeliveryFromJson(j);
  if (!v) throw std::invalid_argument("not a delivery: id is required");
  d = std::move(*v);
}

std::string DeliveryBody(const Event& event, std::string_view data_json) {
  // Assembled as text around the data as stored: parsing the data only to serialise it again
  // was most of the JSON work per delivery. The strings are escaped by the JSON library.
  std::string out;
  out.reserve(data_json.size() + 192);
  out += "{\"id\":";
  out += DumpJson(event.id);
  out += ",\"type\":";
  out += DumpJson(event.type);
  out += ",\"timestamp\":\"";
  out += FormatTimestamp(event.timestamp);
  out += "\",\"team_id\":";
  out += DumpJson(event.team_id);
  out += ",\"data\":";
  out += data_json;
  out += '}';
  return out;
}

}  // namespace mambo
