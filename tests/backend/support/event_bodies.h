#pragma once
// Bodies of POST /api/v1/events that ingest accepts: the data is its type's schema example
// (ingest checks data against the type's schema), the events told apart by their ids.

#include <string>

#include "mambo/event_schemas.h"
#include "mambo/text.h"

namespace mambo::testing {

inline std::string EventBody(const std::string& type, const std::string& id = "") {
  Json body = {{"type", type}, {"data", FindEventSchema(type)->example}};
  if (!id.empty()) body["id"] = id;
  return DumpJson(body);
}

}  // namespace mambo::testing
