// Event lists and descriptions, as typed in the console and sent to the API.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "mambo/catalog.h"
#include "mambo/event_schemas.h"
#include "mambo/validation.h"
#include "test_printers.h"

namespace mambo {
namespace {

std::optional<std::string> Error(const std::string& message) {
  return message;
}

TEST(Events, EveryCatalogTypeIsAcceptedOnce) {
  std::vector<std::string> all;
  for (const auto& t : EventCatalog()) all.emplace_back(t.id);
  EXPECT_EQ(EventsErrors(all), FieldErrors{});
  EXPECT_EQ(EventsErrors({"device.enroll"}), FieldErrors{});
}

TEST(Events, EmptyListIsRejected) {
  EXPECT_EQ(EventsErrors({}), (FieldErrors{{"events", "Select at least one event"}}));
}

TEST(Events, UnknownIdsAreReportedAtTheirIndex) {
  EXPECT_EQ(EventsErrors({"team.update", "device.explode", "device.enroll", "Device.Enroll"}),
            (FieldErrors{{"events[1]", "Unknown event type \"device.explode\""},
                         {"events[3]", "Unknown event type \"Device.Enroll\""}}));
}

TEST(Events, TestEventAndEmptyIdAreNotSubscribable) {
  EXPECT_EQ(EventsErrors({std::string(kTestEventType)}),
            (FieldErrors{{"events[0]", "Unknown event type \"webhook.test\""}}));
  EXPECT_EQ(EventsErrors({""}), (FieldErrors{{"events[0]", "Unknown event type \"\""}}));
  EXPECT_EQ(EventsErrors({" team.update"}),
            (FieldErrors{{"events[0]", "Unknown event type \" team.update\""}}));
  EXPECT_EQ(EventsErrors({"team"}), (FieldErrors{{"events[0]", "Unknown event type \"team\""}}));
}

TEST(Events, DuplicatesAreReportedAtEveryRepeat) {
  EXPECT_EQ(EventsErrors({"team.update", "device.enroll", "team.update"}),
            (FieldErrors{{"events[2]", "Event type \"team.update\" is listed twice"}}));
  EXPECT_EQ(EventsErrors({"role.create", "role.create", "role.create"}),
            (FieldErrors{{"events[1]", "Event type \"role.create\" is listed twice"},
                         {"events[2]", "Event type \"role.create\" is listed twice"}}));
}

TEST(Events, UnknownAndDuplicateTogether) {
  EXPECT_EQ(EventsErrors({"nope", "policy.update", "nope", "policy.update"}),
            (FieldErrors{{"events[0]", "Unknown event type \"nope\""},
                         {"events[2]", "Unknown event type \"nope\""},
                         {"events[3]", "Event type \"policy.update\" is listed twice"}}));
}

TEST(Events, IndexesPastNineAreWrittenInFull) {
  std::vector<std::string> events;
  for (const auto& t : EventCatalog()) events.emplace_back(t.id);
  events.push_back("device.enroll");
  const FieldErrors errors = EventsErrors(events);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "events[25]");
}

constexpr const char* kTooLong = "Description must be at most 256 characters";
constexpr const char* kBadUtf8 = "Description must be valid UTF-8";

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

TEST(Description, EmptyIsAccepted) {
  EXPECT_EQ(DescriptionError(""), std::nullopt);
}

TEST(Description, AsciiLimitIs256Characters) {
  EXPECT_EQ(DescriptionError(std::string(256, 'd')), std::nullopt);
  EXPECT_EQ(DescriptionError(std::string(257, 'd')), Error(kTooLong));
}

TEST(Description, CountsCodePointsNotBytes) {
  const std::string e_acute = "\xc3\xa9";                           // U+00E9, 2 bytes
  const std::string euro = "\xe2\x82\xac";                          // U+20AC, 3 bytes
  const std::string emoji = "\xf0\x9f\x9a\x80";                     // U+1F680, 4 bytes
  EXPECT_EQ(DescriptionError(Repeat(e_acute, 256)), std::nullopt);  // 512 bytes
  EXPECT_EQ(DescriptionError(Repeat(e_acute, 257)), Error(kTooLong));
  EXPECT_EQ(DescriptionError(Repeat(euro, 256)), std::nullopt);  // 768 bytes
  EXPECT_EQ(DescriptionError(Repeat(euro, 257)), Error(kTooLong));
  EXPECT_EQ(DescriptionError(Repeat(emoji, 256)), std::nullopt);  // 1024 bytes
  EXPECT_EQ(DescriptionError(Repeat(emoji, 257)), Error(kTooLong));
  EXPECT_EQ(DescriptionError(std::string(255, 'a') + emoji), std::nullopt);
  EXPECT_EQ(DescriptionError(std::string(255, 'a') + emoji + "b"), Error(kTooLong));
  EXPECT_EQ(DescriptionError("\xef\xbf\xbf\xf4\x8f\xbf\xbf"), std::nullopt);  // U+FFFF, U+10FFFF
}

TEST(Description, RejectsInvalidUtf8) {
  EXPECT_EQ(DescriptionError("\xff"), Error(kBadUtf8));
  EXPECT_EQ(DescriptionError("caf\xe9"), Error(kBadUtf8));               // Latin-1, not UTF-8
  EXPECT_EQ(DescriptionError("\x80"), Error(kBadUtf8));                  // lone continuation byte
  EXPECT_EQ(DescriptionError("ab\xc3"), Error(kBadUtf8));                // truncated at the end
  EXPECT_EQ(DescriptionError("\xe2\x82"), Error(kBadUtf8));              // truncated 3-byte form
  EXPECT_EQ(DescriptionError("\xe2\x82z"), Error(kBadUtf8));             // bad continuation
  EXPECT_EQ(DescriptionError("\xc0\xaf"), Error(kBadUtf8));              // overlong '/'
  EXPECT_EQ(DescriptionError("\xe0\x80\xaf"), Error(kBadUtf8));          // overlong, 3 bytes
  EXPECT_EQ(DescriptionError("\xed\xa0\x80"), Error(kBadUtf8));          // surrogate U+D800
  EXPECT_EQ(DescriptionError("\xf4\x90\x80\x80"), Error(kBadUtf8));      // above U+10FFFF
  EXPECT_EQ(DescriptionError("\xf8\x88\x80\x80\x80"), Error(kBadUtf8));  // 5-byte form
  // Invalid UTF-8 is reported even when the text is also too long.
  EXPECT_EQ(DescriptionError(std::string(300, 'a') + "\xff"), Error(kBadUtf8));
}

TEST(Description, RejectsControlCharacters) {
  constexpr const char* kControl = "Description must not contain control characters";
  EXPECT_EQ(DescriptionError(std::string("a\0b", 3)), Error(kControl));
  EXPECT_EQ(DescriptionError("line\nbreak"), Error(kControl));
  EXPECT_EQ(DescriptionError("tab\there"), Error(kControl));
  EXPECT_EQ(DescriptionError("bell\x07"), Error(kControl));
  EXPECT_EQ(DescriptionError("del\x7f"), Error(kControl));
  EXPECT_EQ(DescriptionError("Ünïcödé, \"quotes\" and \\ are fine"), std::nullopt);
}

}  // namespace
}  // namespace mambo

namespace mambo {
namespace {

// POST /events bodies: the checks the API runs, here in both builds.
TEST(EventInput, AcceptsTypeDataAndAnOptionalId) {
  const Json device_data = FindEventSchema("device.enroll")->example;
  Event e;
  EXPECT_EQ(ParseEventInput(Json{{"type", "webhook.disabled"}, {"data", Json::object()}}, e),
            (FieldErrors{{"type", "Unknown event type \"webhook.disabled\""}}))
      << "only webhookd sends notices";
  EXPECT_TRUE(
      ParseEventInput(Json{{"type", "device.enroll"}, {"data", device_data}, {"id", "e-1"}}, e)
          .empty());
  EXPECT_EQ(e.type, "device.enroll");
  EXPECT_EQ(e.id, "e-1");
  EXPECT_EQ(e.data, device_data);
  Event no_id;
  EXPECT_TRUE(
      ParseEventInput(
          Json{{"type", "team.update"}, {"data", FindEventSchema("team.update")->example}}, no_id)
          .empty());
  EXPECT_EQ(no_id.id, "");
}

TEST(EventInput, ChecksTheDataAgainstItsTypesSchema) {
  Json data = FindEventSchema("device.enroll")->example;
  data["device"].erase("id");
  data["device"]["platform"] = "symbian";
  data["actor"]["mood"] = "happy";
  Event e;
  EXPECT_EQ(ParseEventInput(Json{{"type", "device.enroll"}, {"data", data}}, e),
            (FieldErrors{{"data/actor/mood", "Unknown field"},
                         {"data/device/id", "Is required"},
                         {"data/device/platform",
                          "Must be one of \"android\", \"ios\", \"ipados\", \"macos\", "
                          "\"windows\", \"chromeos\""}}));
  // An empty object is data too, and a device.enroll without a device says so.
  EXPECT_EQ(ParseEventInput(Json{{"type", "device.enroll"}, {"data", Json::object()}}, e),
            (FieldErrors{{"data/device", "Is required"}, {"data/actor", "Is required"}}));
}

TEST(EventInput, NamesEveryBadField) {
  Event e;
  const FieldErrors errors = ParseEventInput(
      Json{{"type", "nope"}, {"data", Json::array()}, {"id", "has space"}, {"extra", 1}}, e);
  EXPECT_EQ(errors, (FieldErrors{{"data", "Must be a JSON object"},
                                 {"extra", "Unknown field"},
                                 {"id", "Must be 1 to 64 letters, digits, '_' or '-'"},
                                 {"type", "Unknown event type \"nope\""}}));
  EXPECT_EQ(ParseEventInput(Json::object(), e),
            (FieldErrors{{"type", "type is required"}, {"data", "data is required"}}));
  EXPECT_EQ(ParseEventInput(Json::array(), e),
            (FieldErrors{{"", "Request body must be a JSON object"}}));
  EXPECT_FALSE(IsValidId(std::string(65, 'a')));
  EXPECT_TRUE(IsValidId(std::string(64, 'a')));
}

}  // namespace
}  // namespace mambo
