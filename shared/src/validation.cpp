#include "mambo/validation.h"

#include <algorithm>
#include <set>

#include "mambo/catalog.h"
#include "mambo/event_schemas.h"
#include "mambo/text.h"

namespace mambo {
namespace {

const char* TypeName(const Json& j) {
  switch (j.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "a boolean";
    case Json::value_t::string:
      return "a string";
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

}  // namespace

void to_json(Json& j, const FieldError& e) {
  j = Json{{"field", e.field}, {"message", e.message}};
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

FieldErrors ParseEventInput(const Json& body, Event& e) {
  FieldErrors errors;
  if (!body.is_object()) return {{"", "Request body must be a JSON object"}};
  bool has_type = false, has_data = false;
  for (const auto& [key, value] : body.items()) {
    if (key == "type") {
      has_type = true;
      if (!value.is_string()) {
        errors.push_back({key, "Must be a string"});
      } else if (!FindEventType(value.get<std::string>())) {
        errors.push_back({key, "Unknown event type \"" + value.get<std::string>() + "\""});
      } else {
        e.type = value.get<std::string>();
      }
    } else if (key == "data") {
      has_data = true;
      if (!value.is_object()) {
        errors.push_back({key, "Must be a JSON object"});
      } else {
        e.data = value;
      }
    } else if (key == "id") {
      if (!value.is_string() || !IsValidId(value.get<std::string>())) {
        errors.push_back({key, "Must be 1 to 64 letters, digits, '_' or '-'"});
      } else {
        e.id = value.get<std::string>();
      }
    } else {
      errors.push_back({key, "Unknown field"});
    }
  }
  if (!has_type) errors.push_back({"type", "type is required"});
  if (!has_data) errors.push_back({"data", "data is required"});
  // The data against its type's schema, once both are known to be usable.
  if (errors.empty()) errors = EventDataErrors(e.type, e.data);
  return errors;
}

std::optional<Json> ParseJson(std::string_view text, std::string* error) {
  // The depth is checked on the text, before a value exists to recurse over.
  if (JsonNestingDepth(text) > kMaxJsonDepth) {
    if (error) *error = "JSON is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
    return std::nullopt;
  }
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::optional<std::string> SecretError(std::string_view secret) {
  if (secret == kGenerateSecret) return std::nullopt;
  if (secret.substr(0, kSecretPrefix.size()) == kSecretPrefix) {
    auto key = DecodeBase64(secret.substr(kSecretPrefix.size()));
    if (!key) return "Secret starting with whsec_ must be followed by valid base64";
    if (key->size() < 24 || key->size() > 64) {
      return "Secret starting with whsec_ must encode 24 to 64 bytes (it encodes " +
             std::to_string(key->size()) + ")";
    }
    return std::nullopt;
  }
  // A plain-text secret signs with its bytes, but the Standard Webhooks libraries receivers
  // verify with base64-decode whatever follows "whsec_" (or the whole string): they would reject
  // every delivery. Plain secrets stored before this rule keep signing (SecretKey).
  return std::string(kSecretFormMessage);
}

std::string SecretKey(std::string_view secret) {
  if (secret.substr(0, kSecretPrefix.size()) == kSecretPrefix) {
    if (auto key = DecodeBase64(secret.substr(kSecretPrefix.size()))) return *key;
  }
  return std::string(secret);
}

std::optional<std::string> DescriptionError(std::string_view description) {
  auto length = Utf8Length(description);
  if (!length) return "Description must be valid UTF-8";
  if (*length > kMaxDescriptionChars) return "Description must be at most 256 characters";
  // One line of text: no control characters (U+0000-U+001F, U+007F). NUL especially, which
  // PostgreSQL's text type cannot hold.
  for (unsigned char c : description) {
    if (c < 0x20 || c == 0x7f) return "Description must not contain control characters";
  }
  return std::nullopt;
}

FieldErrors EventsErrors(const std::vector<std::string>& events) {
  FieldErrors errors;
  if (events.empty()) {
    errors.push_back({"events", "Select at least one event"});
    return errors;
  }
  std::set<std::string_view> seen;
  for (size_t i = 0; i < events.size(); ++i) {
    const std::string field = "events[" + std::to_string(i) + "]";
    if (!FindSubscribableType(events[i])) {
      errors.push_back({field, "Unknown event type \"" + events[i] + "\""});
    } else if (!seen.insert(events[i]).second) {
      errors.push_back({field, "Event type \"" + events[i] + "\" is listed twice"});
    }
  }
  return errors;
}

namespace {

bool IsTokenChar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// A JSON pointer segment (RFC 6901): "~" and "/" escaped, so that "headers/<name>" names one
// header whatever its name holds.
std::string PointerSegment(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> RateLimitError(const Json& value) {
  if (value.is_number_integer() && value.get<int64_t>() >= kMinRateLimit &&
      value.get<int64_t>() <= kMaxRateLimit) {
    return std::nullopt;
  }
  return "Must be a whole number of requests a second from " + std::to_string(kMinRateLimit) +
         " to " + std::to_string(kMaxRateLimit) + ", or null for no limit";
}

std::optional<std::string> HeaderNameError(std::string_view name) {
  if (name.empty()) return "Header name must not be empty";
  for (unsigned char c : name) {
    if (!IsTokenChar(c)) {
      return "Header name may hold only letters, digits and !#$%&'*+-.^_`|~";
    }
  }
  static constexpr std::string_view kReserved[] = {
      "content-type", "content-length",    "host",       "user-agent",
      "connection",   "transfer-encoding", "keep-alive", "te",
      "trailer",      "upgrade",           "expect",     "proxy-connection"};
  const std::string lower = Lower(name);
  if (lower.rfind("webhook-", 0) == 0) {
    return "Header names starting with webhook- are set by webhookd (id, timestamp, signature)";
  }
  for (std::string_view reserved : kReserved) {
    if (lower == reserved) return "Header " + std::string(name) + " is set by webhookd itself";
  }
  return std::nullopt;
}

std::optional<std::string> HeaderValueError(std::string_view value) {
  if (!IsValidUtf8(value)) return "Header value must be valid UTF-8";
  for (unsigned char c : value) {
    if (c == '\r' || c == '\n') return "Header value must not contain line breaks";
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return "Header value must not contain control characters";
    }
  }
  if (!value.empty() && (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
                         value.back() == '\t')) {
    return "Header value must not start or end with a space";
  }
  return std::nullopt;
}

FieldErrors HeadersErrors(const Headers& headers) {
  FieldErrors errors;
  if (headers.size() > kMaxCustomHeaders) {
    errors.push_back({"headers", "At most " + std::to_string(kMaxCustomHeaders) +
                                     " custom headers (there are " +
                                     std::to_string(headers.size()) + ")"});
  }
  size_t bytes = 0;
  std::set<std::string> seen;
  for (const auto& [name, value] : headers) {
    bytes += name.size() + value.size();
    if (!seen.insert(Lower(name)).second) {
      errors.push_back({"headers/" + PointerSegment(name),
                        "Header " + name + " is given twice (names ignore case)"});
    }
  }
  if (bytes > kMaxCustomHeaderBytes) {
    errors.push_back({"headers",
                      "Custom headers must hold at most 8 KiB of names and values "
                      "together (they hold " +
                          std::to_string(bytes) + " bytes)"});
  }
  return errors;
}

Headers ApplyHeaderChanges(const Headers& current, const HeaderChanges& changes) {
  Headers out = current;
  for (const auto& [name, value] : changes) {
    const std::string lower = Lower(name);
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const auto& h) { return Lower(h.first) == lower; });
    if (!value) {
      if (it != out.end()) out.erase(it);
    } else if (it != out.end()) {
      *it = {name, *value};
    } else {
      out.emplace_back(name, *value);
    }
  }
  return out;
}

FieldErrors ParseWebhookInput(std::string_view body, InputMode mode, WebhookInput& out) {
  out = WebhookInput{};
  FieldErrors errors;
  std::string why;
  auto parsed = ParseJson(body, &why);
  if (!parsed) return {{"", why.empty() ? "Request body is not valid JSON" : why}};
  const Json& j = *parsed;
  if (!j.is_object()) return {{"", "Request body must be a JSON object"}};

  auto wrong_type = [&](const std::string& field, const char* expected, const Json& value) {
    errors.push_back({field, "Must be " + std::string(expected) + ", not " + TypeName(value)});
  };

  for (const auto& [key, value] : j.items()) {
    if (key == "url") {
      if (!value.is_string()) {
        wrong_type(key, "a string", value);
      } else {
        out.url = value.get<std::string>();
        if (auto e = UrlError(*out.url)) errors.push_back({key, *e});
      }
    } else if (key == "events") {
      if (!value.is_array()) {
        wrong_type(key, "an array of event type ids", value);
        continue;
      }
      std::vector<std::string> events;
      bool types_ok = true;
      for (size_t i = 0; i < value.size(); ++i) {
        if (!value[i].is_string()) {
          wrong_type("events[" + std::to_string(i) + "]", "a string", value[i]);
          types_ok = false;
        } else {
          events.push_back(value[i].get<std::string>());
        }
      }
      if (!types_ok) continue;
      for (auto& e : EventsErrors(events)) errors.push_back(std::move(e));
      out.events = std::move(events);
    } else if (key == "secret") {
      if (value.is_null()) {
        out.clear_secret = true;
      } else if (!value.is_string()) {
        wrong_type(key, "a string or null", value);
      } else {
        out.secret = value.get<std::string>();
        if (auto e = SecretError(*out.secret)) errors.push_back({key, *e});
      }
    } else if (key == "active") {
      if (!value.is_boolean()) {
        wrong_type(key, "true or false", value);
      } else {
        out.active = value.get<bool>();
      }
    } else if (key == "description") {
      if (value.is_null()) {
        out.clear_description = true;
      } else if (!value.is_string()) {
        wrong_type(key, "a string or null", value);
      } else {
        out.description = value.get<std::string>();
        if (auto e = DescriptionError(*out.description)) errors.push_back({key, *e});
      }
    } else if (key == "rate_limit_per_second") {
      if (value.is_null()) {
        out.clear_rate_limit = true;
      } else if (auto e = RateLimitError(value)) {
        errors.push_back({key, *e});
      } else {
        out.rate_limit_per_second = value.get<int>();
      }
    } else if (key == "headers") {
      if (value.is_null()) {
        if (mode == InputMode::kCreate) {
          wrong_type(key, "an object of header names and values", value);
        } else {
          out.clear_headers = true;
        }
        continue;
      }
      if (!value.is_object()) {
        wrong_type(key, "an object of header names and values", value);
        continue;
      }
      HeaderChanges changes;
      const size_t errors_before = errors.size();
      for (const auto& [name, header_value] : value.items()) {
        const std::string field = "headers/" + PointerSegment(name);
        if (auto e = HeaderNameError(name)) {
          errors.push_back({field, *e});
        } else if (header_value.is_null() && mode == InputMode::kUpdate) {
          changes.emplace_back(name, std::nullopt);  // removes it
        } else if (!header_value.is_string()) {
          wrong_type(field,
                     mode == InputMode::kUpdate ? "a string, or null to remove it" : "a string",
                     header_value);
        } else if (auto e = HeaderValueError(header_value.get<std::string>())) {
          errors.push_back({field, *e});
        } else {
          changes.emplace_back(name, header_value.get<std::string>());
        }
      }
      if (errors.size() != errors_before) continue;
      // A whole set is checked here; a change only for names given twice, and then by the
      // caller against the set it changes.
      Headers named;
      for (const auto& [name, change] : changes) named.emplace_back(name, change.value_or(""));
      for (auto& e : HeadersErrors(named)) {
        if (mode == InputMode::kCreate || e.field != "headers") errors.push_back(std::move(e));
      }
      out.headers = std::move(changes);
    } else {
      errors.push_back({key, "Unknown field"});
    }
  }
  if (mode == InputMode::kCreate) {
    if (!j.contains("url")) errors.push_back({"url", "URL is required"});
    if (!j.contains("events")) errors.push_back({"events", "Select at least one event"});
  }
  return errors;
}

}  // namespace mambo
