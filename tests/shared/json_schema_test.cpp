// The JSON Schema subset validator and the 25 event schemas it checks (shared/events/).
#include "mambo/json_schema.h"

#include <gtest/gtest.h>

#include <string>

#include "mambo/catalog.h"
#include "mambo/event_schemas.h"
#include "test_printers.h"

namespace mambo {
namespace {

FieldErrors Check(const char* schema, const char* value) {
  return ValidateJsonSchema(Json::parse(schema), Json::parse(value), "data");
}

TEST(EventSchemas, EveryCatalogTypeHasAValidSchemaAndExample) {
  EXPECT_EQ(EventSchemaProblems(), std::vector<std::string>{});
  for (const EventType& type : EventCatalog()) {
    SCOPED_TRACE(std::string(type.id));
    const EventSchema* s = FindEventSchema(type.id);
    ASSERT_NE(s, nullptr);
    EXPECT_GE(s->version, 1);
    EXPECT_EQ(s->schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    // Each names its required fields, and the example is a full payload.
    EXPECT_FALSE(s->schema["required"].empty());
    EXPECT_TRUE(s->example.is_object());
    EXPECT_TRUE(s->example.contains("actor"));
    EXPECT_EQ(EventDataErrors(type.id, s->example), FieldErrors{});
    // Self-contained: every $ref resolves inside the schema served.
    EXPECT_EQ(SchemaKeywordErrors(s->schema), std::vector<std::string>{});
  }
  EXPECT_EQ(FindEventSchema("webhook.test"), nullptr);
  EXPECT_EQ(FindEventSchema("common"), nullptr);
}

TEST(EventSchemas, UpdatesSayWhatChanged) {
  for (const EventType& type : EventCatalog()) {
    const std::string id(type.id);
    if (id.size() < 7 || id.compare(id.size() - 7, 7, ".update") != 0) continue;
    SCOPED_TRACE(id);
    Json data = FindEventSchema(id)->example;
    data.erase("changes");
    EXPECT_EQ(EventDataErrors(id, data), (FieldErrors{{"data/changes", "Is required"}}));
  }
}

TEST(JsonSchema, TypesAndTheirMessages) {
  const char* schema = R"({"type":"object","properties":{
      "s":{"type":"string"},"i":{"type":"integer"},"n":{"type":"number"},
      "b":{"type":"boolean"},"a":{"type":"array"},"o":{"type":"object"},
      "z":{"type":["string","null"]}}})";
  EXPECT_EQ(Check(schema, R"({"s":"x","i":3,"n":1.5,"b":true,"a":[],"o":{},"z":null})"),
            FieldErrors{});
  EXPECT_EQ(Check(schema, R"({"i":2.0,"z":"x"})"), FieldErrors{});  // 2.0 is an integer
  EXPECT_EQ(Check(schema, R"({"s":1,"i":1.5,"n":"1","b":0,"a":{},"o":[],"z":3})"),
            (FieldErrors{{"data/a", "Must be an array"},
                         {"data/b", "Must be a boolean"},
                         {"data/i", "Must be an integer"},
                         {"data/n", "Must be a number"},
                         {"data/o", "Must be an object"},
                         {"data/s", "Must be a string"},
                         {"data/z", "Must be a string or null"}}));
  EXPECT_EQ(Check(schema, "[]"), (FieldErrors{{"data", "Must be an object"}}));
}

TEST(JsonSchema, RequiredUnknownAndNestedPaths) {
  const char* schema = R"({"type":"object","required":["device"],"additionalProperties":false,
      "properties":{"device":{"type":"object","required":["id"],"additionalProperties":false,
        "properties":{"id":{"type":"string"},"tags":{"type":"array","maxItems":3,
          "items":{"type":"string","minLength":1}}}}}})";
  EXPECT_EQ(Check(schema, R"({})"), (FieldErrors{{"data/device", "Is required"}}));
  EXPECT_EQ(Check(schema, R"({"device":{"id":"d","tags":["a",""]},"x/y~z":1})"),
            (FieldErrors{{"data/device/tags/1", "Must not be empty"},
                         {"data/x~1y~0z", "Unknown field"}}));
  EXPECT_EQ(Check(schema, R"({"device":{"id":"d","tags":["a","b","c","d"]}})"),
            (FieldErrors{{"data/device/tags", "Must have at most 3 items"}}));
}

TEST(JsonSchema, EnumConstLengthsAndBounds) {
  const char* schema = R"({"type":"object","properties":{
      "p":{"enum":["android","ios"]},"k":{"const":"v1"},
      "name":{"type":"string","minLength":2,"maxLength":3},
      "n":{"type":"integer","minimum":1,"maximum":10},
      "o":{"type":"object","maxProperties":1}}})";
  // Lengths count code points, not bytes: "ñé" is two characters in four bytes.
  EXPECT_EQ(Check(schema, R"({"p":"ios","k":"v1","name":"ñé","n":10,"o":{"a":1}})"), FieldErrors{});
  EXPECT_EQ(Check(schema, R"({"p":"tizen","k":"v2","name":"ñéíó","n":0,"o":{"a":1,"b":2}})"),
            (FieldErrors{{"data/k", "Must be \"v1\""},
                         {"data/n", "Must be at least 1"},
                         {"data/name", "Must be at most 3 characters"},
                         {"data/o", "Must have at most 1 field"},
                         {"data/p", "Must be one of \"android\", \"ios\""}}));
  EXPECT_EQ(Check(schema, R"({"name":"x","n":11})"),
            (FieldErrors{{"data/n", "Must be at most 10"},
                         {"data/name", "Must be at least 2 characters"}}));
}

TEST(JsonSchema, Formats) {
  const char* schema = R"({"type":"object","properties":{
      "at":{"type":"string","format":"date-time"},"mail":{"type":"string","format":"email"}}})";
  for (const char* ok : {"2026-03-01T09:30:00Z", "2024-02-29T23:59:60.123Z",
                         "2026-03-01t09:30:00+01:00", "2026-12-31T00:00:00-12:30"}) {
    SCOPED_TRACE(ok);
    EXPECT_TRUE(IsRfc3339DateTime(ok));
  }
  for (const char* bad : {"2026-03-01", "2026-03-01 09:30:00Z", "2027-02-29T00:00:00Z",
                          "2026-04-31T00:00:00Z", "2026-03-01T24:00:00Z", "2026-03-01T09:30:00",
                          "2026-03-01T09:30:00.Z", "2026-03-01T09:30:00+0100", "", "1"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(IsRfc3339DateTime(bad));
  }
  EXPECT_EQ(Check(schema, R"({"at":"2026-03-01T09:30:00Z","mail":"ana.lopez@acme.example"})"),
            FieldErrors{});
  EXPECT_EQ(Check(schema, R"({"at":"yesterday","mail":"ana@"})"),
            (FieldErrors{{"data/at", "Must be an RFC 3339 date-time, e.g. 2026-03-01T09:30:00Z"},
                         {"data/mail", "Must be an email address"}}));
  for (const char* bad : {"@acme.example", "ana..b@acme.example", "ana@acme", "ana@-acme.example",
                          "a b@acme.example", "ana@acme..example"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(Check(schema, (std::string(R"({"mail":")") + bad + "\"}").c_str()).size(), 1u);
  }
}

TEST(JsonSchema, RefsResolveToDefs) {
  const char* schema = R"({"$defs":{"id":{"type":"string","maxLength":4}},
      "type":"object","properties":{"a":{"$ref":"#/$defs/id"},"b":{"$ref":"#/$defs/id"}}})";
  EXPECT_EQ(Check(schema, R"({"a":"abcd","b":"abcde"})"),
            (FieldErrors{{"data/b", "Must be at most 4 characters"}}));
}

TEST(JsonSchema, HostileDocumentsGetABoundedAnswer) {
  // 10,000 unknown fields: at most kMaxSchemaErrors errors, and long keys are cut short.
  Json many = Json::object();
  for (int i = 0; i < 10000; ++i) many["field" + std::to_string(i) + std::string(300, 'x')] = i;
  const FieldErrors errors = ValidateJsonSchema(
      Json::parse(R"({"type":"object","additionalProperties":false})"), many, "data");
  ASSERT_EQ(errors.size(), kMaxSchemaErrors);
  for (const FieldError& e : errors) EXPECT_LE(e.field.size(), 5 + 64 + 3);
  // A key cut in the middle of a multi-byte character stays valid UTF-8.
  Json accents = {{std::string(63, 'a') + "ñññ", 1}};
  const FieldErrors cut =
      ValidateJsonSchema(Json::parse(R"({"additionalProperties":false})"), accents, "");
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_EQ(cut[0].field, std::string(63, 'a') + "...");
  // A $ref cycle that never descends into the document ends with an error, not a crash.
  const Json cycle = Json::parse(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},
      "$ref":"#/$defs/a"})");
  EXPECT_EQ(ValidateJsonSchema(cycle, Json::object(), "data"),
            (FieldErrors{{"data", "The schema nests too deep to check this"}}));
}

TEST(JsonSchema, KeywordsItDoesNotCheckAreReported) {
  EXPECT_EQ(
      SchemaKeywordErrors(Json::parse(
          R"({"type":"object","properties":{"a":{"type":"string","pattern":"^x"},
                    "b":{"$ref":"#/$defs/missing"},"c":{"format":"uri"},"d":{"type":"text"}},
                    "oneOf":[]})")),
      (std::vector<std::string>{
          "(root): keyword \"oneOf\" is not supported",
          "properties/a: keyword \"pattern\" is not supported",
          "properties/b: $ref \"#/$defs/missing\" does not resolve to #/$defs/<name>",
          "properties/c: format \"uri\" is not supported", "properties/d: unknown type \"text\""}));
}

}  // namespace
}  // namespace mambo
