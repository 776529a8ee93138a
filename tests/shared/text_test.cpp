// The text helpers every trust boundary uses (mambo/text.h), and ParseJson's depth limit: the
// same checks in webhookd and in the browser.
#include "mambo/text.h"

#include <gtest/gtest.h>

#include <string>

#include "mambo/validation.h"

namespace mambo {
namespace {

TEST(Utf8, ValidTextIsLeftAlone) {
  for (const std::string s : {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC 5", "\xF0\x9F\x98\x80",
                              "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82"}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    EXPECT_EQ(ToValidUtf8(s), s);
  }
  EXPECT_EQ(Utf8Length("caf\xC3\xA9"), 4u);
}

TEST(Utf8, EveryInvalidByteBecomesOneReplacementCharacter) {
  const std::string kFffd = "\xEF\xBF\xBD";
  EXPECT_FALSE(IsValidUtf8("\xff"));
  EXPECT_EQ(ToValidUtf8("a\xffz"), "a" + kFffd + "z");
  EXPECT_EQ(ToValidUtf8("\xC3"), kFffd);                                      // truncated sequence
  EXPECT_EQ(ToValidUtf8("\xC0\xAF"), kFffd + kFffd);                          // overlong '/'
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), kFffd + kFffd + kFffd);              // surrogate U+D800
  EXPECT_EQ(ToValidUtf8("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);  // > U+10FFFF
  EXPECT_EQ(ToValidUtf8("\xE2\x82"), kFffd + kFffd);
  EXPECT_TRUE(IsValidUtf8(ToValidUtf8("\x80\x81\xfe\xC3\xA9\xC3")));
}

TEST(JsonText, DumpNeverThrowsOnInvalidUtf8) {
  Json j{{"path", "/api/\xff\xfe"}, {"ok", "caf\xC3\xA9"}};
  const std::string text = DumpJson(j);
  EXPECT_TRUE(IsValidUtf8(text));
  auto back = ParseJson(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ((*back)["path"], "/api/\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ((*back)["ok"], "caf\xC3\xA9");
}

TEST(JsonText, NestingDepthIsCountedOutsideStrings) {
  EXPECT_EQ(JsonNestingDepth("{}"), 1u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":[{"b":[]}]})"), 4u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"[[[[{{{{"})"), 1u);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"\"[[[["})"), 1u);
  EXPECT_EQ(JsonNestingDepth("42"), 0u);
  // The scan stops once the limit is passed: a megabyte of '[' costs one pass to the limit.
  EXPECT_EQ(JsonNestingDepth(std::string(1 << 20, '['), 65), 65u);
}

TEST(JsonText, ParseRefusesDocumentsDeeperThanTheLimit) {
  auto nested = [](size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  EXPECT_TRUE(ParseJson(nested(kMaxJsonDepth)).has_value());
  std::string why;
  EXPECT_FALSE(ParseJson(nested(kMaxJsonDepth + 1), &why).has_value());
  EXPECT_NE(why.find("nested deeper than 64"), std::string::npos) << why;
  // Tens of thousands of levels: refused before any value exists (this crashed webhookd).
  EXPECT_FALSE(ParseJson(std::string(100000, '[')).has_value());
  EXPECT_FALSE(ParseJson(std::string(50000, '{') + "\"a\":1").has_value());
  // The webhook input parser says why in its one error.
  WebhookInput in;
  FieldErrors errors = ParseWebhookInput("{\"url\":" + nested(200) + "}", InputMode::kCreate, in);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "");
  EXPECT_NE(errors[0].message.find("nested deeper"), std::string::npos) << errors[0].message;
}

}  // namespace
}  // namespace mambo
