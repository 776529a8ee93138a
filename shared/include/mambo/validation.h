#pragma once
// Validation of everything a user can type: returns values, never throws. The console calls the
// same functions as webhookd, so a user sees in the browser exactly the message the API's 422
// would carry.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mambo/models.h"

namespace mambo {

struct FieldError {
  std::string field;  // "url", "events[2]", "secret"
  std::string message;
  bool operator==(const FieldError& o) const { return field == o.field && message == o.message; }
};
using FieldErrors = std::vector<FieldError>;

void to_json(Json& j, const FieldError& e);

inline constexpr size_t kMaxUrlLength = 2048;
inline constexpr size_t kMaxDescriptionChars = 256;
inline constexpr std::string_view kGenerateSecret = "generate";
inline constexpr std::string_view kSecretPrefix = "whsec_";

// nullopt when `url` is an acceptable webhook target URL, else the message for the user.
std::optional<std::string> UrlError(std::string_view url);
// `url` as logs may show it: without user info and with the query replaced by "?...", where
// receivers put their credentials ("?token=..."). Also for URLs that are not valid.
std::string RedactUrl(std::string_view url);
// nullopt when `secret` is acceptable: "whsec_" + base64 of 24..64 bytes, the Standard Webhooks
// form receivers' libraries expect. "generate" is not a secret (the caller asks for one to be
// made). Secrets stored before this rule, 16..256 printable ASCII characters, keep signing.
std::optional<std::string> SecretError(std::string_view secret);
inline constexpr std::string_view kSecretFormMessage =
    "Secret must be whsec_ followed by the base64 of 24 to 64 random bytes, the Standard "
    "Webhooks form receivers' libraries verify with; choose Generate to have one made";
std::optional<std::string> DescriptionError(std::string_view description);
// Every id in the catalog, at least one, no duplicates; field names "events" / "events[i]".
FieldErrors EventsErrors(const std::vector<std::string>& events);

// Custom headers a webhook sends with every attempt (to pass an API gateway, say). Their values
// may be credentials: webhookd seals them at rest and shows them only as kMaskedHeaderValue
// (models.h).
inline constexpr size_t kMaxCustomHeaders = 20;
inline constexpr size_t kMaxCustomHeaderBytes = 8 * 1024;  // names and values together
// nullopt when `name` may be a custom header's name: an HTTP token (RFC 9110) that is not one of
// the names webhookd sets itself or that would change how the request is framed or routed
// (webhook-*, content-type, content-length, host, user-agent, connection, transfer-encoding and
// the other hop-by-hop names: keep-alive, te, trailer, upgrade, expect, proxy-connection).
std::optional<std::string> HeaderNameError(std::string_view name);
// nullopt when `value` may be sent as a header value: visible ASCII, spaces and tabs, or UTF-8
// text; no CR, LF or other control characters, no space at either end (receivers strip it).
std::optional<std::string> HeaderValueError(std::string_view value);
// The set as a whole: at most kMaxCustomHeaders, kMaxCustomHeaderBytes together, no name twice
// (names compare without case). Field "headers".
FieldErrors HeadersErrors(const Headers& headers);
// A change to a webhook's headers, as PATCH carries it (a JSON merge patch, RFC 7396): each
// name with a value is set (replacing a header of that name in any case), each name with
// nullopt is removed.
using HeaderChanges = std::vector<std::pair<std::string, std::optional<std::string>>>;
Headers ApplyHeaderChanges(const Headers& current, const HeaderChanges& changes);

// The HMAC key of a valid secret: a whsec_ secret's base64-decoded bytes, a plain secret's bytes.
std::string SecretKey(std::string_view secret);

// Body of POST /webhooks (kCreate: url and events required) or PATCH /webhooks/{id} (kUpdate:
// every field optional). null clears description (and secret on update).
struct WebhookInput {
  std::optional<std::string> url;
  std::optional<std::vector<std::string>> events;
  std::optional<std::string> secret;  // may be kGenerateSecret
  bool clear_secret = false;
  std::optional<bool> active;
  std::optional<std::string> description;
  bool clear_description = false;
  std::optional<int> rate_limit_per_second;  // kMinRateLimit..kMaxRateLimit
  bool clear_rate_limit = false;
  // Create: the whole set (no nullopt values). Update: changes to the current set; clear_headers
  // (headers: null) removes them all first.
  std::optional<HeaderChanges> headers;
  bool clear_headers = false;
};
inline constexpr int kMinRateLimit = 1;
inline constexpr int kMaxRateLimit = 10000;
// nullopt when `value` is a rate limit: a whole number from kMinRateLimit to kMaxRateLimit.
std::optional<std::string> RateLimitError(const Json& value);
enum class InputMode { kCreate, kUpdate };

// Parses and validates JSON text. Malformed JSON gives one error on field "" ; wrong types,
// unknown fields and invalid values give one error per field. Never throws.
FieldErrors ParseWebhookInput(std::string_view body, InputMode mode, WebhookInput& out);

// The body of POST /events, already parsed as a JSON object: {type, data, id?}. Fills `out`'s
// type, data and id (empty when the producer gave none); one error per bad or unknown field,
// and data is checked against its type's schema (mambo/event_schemas.h): "data/device/id".
FieldErrors ParseEventInput(const Json& body, Event& out);
// An id as webhookd writes them and a producer may choose for an event: 1 to 64 letters,
// digits, '_' or '-'. The console checks route ids with it too.
bool IsValidId(std::string_view id);

// Non-throwing JSON parse: nullopt when the text is not one JSON value, or nests deeper than
// kMaxJsonDepth (mambo/text.h); `error`, when given, then says which.
std::optional<Json> ParseJson(std::string_view text, std::string* error = nullptr);

// Strict base64 (RFC 4648 alphabet, padding required): nullopt when not valid.
std::optional<std::string> DecodeBase64(std::string_view text);

}  // namespace mambo
