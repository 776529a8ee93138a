#include "mambo/event_schemas.h"

#include <map>

#include "event_schema_files.h"
#include "mambo/catalog.h"
#include "mambo/json_schema.h"

namespace mambo {
namespace {

constexpr std::string_view kIdPrefix = "urn:mambo:webhooks:event:";

struct Loaded {
  std::map<std::string, EventSchema, std::less<>> schemas;
  std::vector<std::string> problems;
};

// The version in "urn:mambo:webhooks:event:<type>:v<N>"; 0 when `id` is not that.
int VersionFromId(const Json& id, std::string_view type) {
  if (!id.is_string()) return 0;
  const std::string& text = id.get_ref<const std::string&>();
  const std::string head = std::string(kIdPrefix) + std::string(type) + ":v";
  if (text.rfind(head, 0) != 0 || text.size() == head.size() || text.size() > head.size() + 4) {
    return 0;
  }
  int version = 0;
  for (size_t i = head.size(); i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return 0;
    version = version * 10 + (text[i] - '0');
  }
  return version;
}

Loaded Load() {
  Loaded out;
  std::map<std::string_view, Json> parsed;
  for (const detail::EmbeddedFile& file : detail::EventSchemaFiles()) {
    std::string error;
    auto json = ParseJson(file.text, &error);
    if (!json || !json->is_object()) {
      out.problems.push_back(std::string(file.name) + ".json: not a JSON object " + error);
      continue;
    }
    parsed.emplace(file.name, std::move(*json));
  }
  const auto common = parsed.find("common");
  const Json common_defs =
      common != parsed.end() ? common->second.value("$defs", Json::object()) : Json::object();
  for (const EventType& type : EventCatalog()) {
    const std::string file = std::string(type.id) + ".json";
    const auto it = parsed.find(type.id);
    if (it == parsed.end()) {
      out.problems.push_back(file + ": missing (every catalog type has a schema)");
      continue;
    }
    EventSchema s;
    s.type = type.id;
    s.schema = it->second;
    s.version = VersionFromId(s.schema.value("$id", Json()), type.id);
    if (s.version == 0) {
      out.problems.push_back(file + ": $id must be \"" + std::string(kIdPrefix) +
                             std::string(type.id) + ":v<version>\"");
    }
    Json& defs = s.schema["$defs"];
    if (!defs.is_object()) defs = Json::object();
    for (const auto& [name, def] : common_defs.items()) {
      if (!defs.contains(name)) defs[name] = def;
    }
    for (const std::string& problem : SchemaKeywordErrors(s.schema)) {
      out.problems.push_back(file + ": " + problem);
    }
    const Json examples = s.schema.value("examples", Json::array());
    if (!examples.is_array() || examples.empty()) {
      out.problems.push_back(file + ": no example (\"examples\": [{...}])");
    } else {
      s.example = examples.front();
      for (const FieldError& e : ValidateJsonSchema(s.schema, s.example, "data")) {
        out.problems.push_back(file + ": the example is not valid: " + e.field + ": " + e.message);
      }
    }
    out.schemas.emplace(s.type, std::move(s));
  }
  for (const auto& [name, json] : parsed) {
    if (name != "common" && FindEventType(name) == nullptr) {
      out.problems.push_back(std::string(name) + ".json: not a catalog event type");
    }
  }
  return out;
}

const Loaded& Schemas() {
  static const Loaded loaded = Load();
  return loaded;
}

}  // namespace

const EventSchema* FindEventSchema(std::string_view type) {
  const auto& schemas = Schemas().schemas;
  const auto it = schemas.find(type);
  return it == schemas.end() ? nullptr : &it->second;
}

FieldErrors EventDataErrors(std::string_view type, const Json& data) {
  const EventSchema* s = FindEventSchema(type);
  return s == nullptr ? FieldErrors{} : ValidateJsonSchema(s->schema, data, "data");
}

std::vector<std::string> EventSchemaProblems() {
  return Schemas().problems;
}

}  // namespace mambo
