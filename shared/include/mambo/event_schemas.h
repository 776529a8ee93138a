#pragma once
// What the "data" of each catalog event type holds: a JSON Schema (2020-12) per type, with an
// example, from shared/events/*.json. Producers' events are checked against it at ingest (422
// with a path per field, "data/device/id"), the console checks its "try it" payloads with the
// same code, and receivers get the schema from GET /api/v1/event-types/{type}.

#include <string>
#include <string_view>
#include <vector>

#include "mambo/models.h"
#include "mambo/validation.h"

namespace mambo {

struct EventSchema {
  std::string type;  // "device.enroll"
  int version = 0;   // from $id "urn:mambo:webhooks:event:<type>:v<version>"
  Json schema;       // self-contained: common.json's $defs are bundled in
  Json example;      // the schema's first "examples" entry: valid against it
};

// The schema of a catalog type; nullptr for other types. Loaded on first use.
const EventSchema* FindEventSchema(std::string_view type);

// Errors of `data` against its type's schema, under "data/..."; empty when valid or when the
// type has no schema.
FieldErrors EventDataErrors(std::string_view type, const Json& data);

// What is wrong with the compiled-in schema files (unparsable, a type not in the catalog or
// missing, $id not matching, keywords the validator does not check, an example that does not
// validate): empty in any build that passed the tests. webhookd refuses to start otherwise.
std::vector<std::string> EventSchemaProblems();

}  // namespace mambo
