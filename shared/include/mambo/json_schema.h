#pragma once
// A JSON Schema (2020-12) validator for the subset of keywords the event schemas use
// (shared/events/). It runs in webhookd (ingest answers 422) and in the browser (the catalog's
// "try it"), so both say the same thing about the same payload.
//
// Supported: type (one or a list), enum, const, properties, required, additionalProperties,
// minProperties/maxProperties, items, minItems/maxItems, uniqueItems, minLength/maxLength (in
// code points), minimum/maximum, format "date-time" (RFC 3339) and "email" (asserted, as a
// producer wants), and $ref to "#/$defs/<name>". Annotations ($schema, $id, $comment, title,
// description, examples, default, deprecated) are ignored. Any other keyword makes the schema
// invalid at load (SchemaKeywordErrors): a keyword silently ignored would be a check that
// never ran.

#include <string>
#include <string_view>
#include <vector>

#include "mambo/models.h"
#include "mambo/validation.h"

namespace mambo {

// At most this many errors are reported for one document: enough to fix a payload, and a
// hostile one cannot make the answer large.
inline constexpr size_t kMaxSchemaErrors = 50;

// Validates `value` against `schema` (whose "$defs" resolve "$ref"s). Each error's field is a
// JSON pointer without its leading '/', under `base` ("data/device/id"; "~" and "/" in names
// escaped as ~0 and ~1). Empty when valid. Never throws.
FieldErrors ValidateJsonSchema(const Json& schema, const Json& value, const std::string& base);

// The keywords of `schema` (and of every schema inside it) this validator does not implement,
// and $refs that do not resolve, as "path: message". Empty when the validator checks all of it.
std::vector<std::string> SchemaKeywordErrors(const Json& schema);

// Whether `text` is an RFC 3339 date-time (e.g. 2026-03-01T09:30:00Z, 2026-03-01T10:30:00.5+01:00).
bool IsRfc3339DateTime(std::string_view text);

}  // namespace mambo
