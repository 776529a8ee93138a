#include "delivery/signature.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "crypto/crypto.h"
#include "mambo/validation.h"

namespace mambo::delivery {
namespace {

std::string Hex(std::string_view bytes) {
  std::string out;
  char buf[3];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof(buf), "%02x", c);
    out += buf;
  }
  return out;
}

// Official vectors from standard-webhooks (libraries/python/tests, libraries/rust/src/lib.rs).
constexpr std::string_view kSecret1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kId1 = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kTs1 = 1614265330;
constexpr std::string_view kBody1 = R"({"test": 2432232314})";
constexpr std::string_view kSig1 = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

constexpr std::string_view kSecret2 = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
constexpr std::string_view kId2 = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
constexpr int64_t kTs2 = 1649367553;
constexpr std::string_view kBody2 = R"({"email":"test@example.com","username":"test_user"})";
constexpr std::string_view kSig2 = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

TEST(SignatureTest, OfficialVectorOne) {
  EXPECT_EQ(Sign(SecretKey(kSecret1), kId1, kTs1, kBody1), kSig1);
}

TEST(SignatureTest, OfficialVectorTwo) {
  EXPECT_EQ(Sign(SecretKey(kSecret2), kId2, kTs2, kBody2), kSig2);
}

TEST(SignatureTest, GitHubBodyOnlyHmacVector) {
  EXPECT_EQ("sha256=" + Hex(HmacSha256("It's a Secret to Everybody", "Hello, World!")),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

TEST(SignatureTest, Base64EncodeMatchesRfc4648) {
  EXPECT_EQ(crypto::Base64Encode(""), "");
  EXPECT_EQ(crypto::Base64Encode("f"), "Zg==");
  EXPECT_EQ(crypto::Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(crypto::Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(crypto::Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(SignatureTest, HeaderWithOneSecretIsTheSignature) {
  EXPECT_EQ(SignatureHeader({std::string(kSecret1)}, kId1, kTs1, kBody1), kSig1);
}

TEST(SignatureTest, RotationHeaderHasBothSignaturesAndVerifiesWithEither) {
  const std::vector<std::string> secrets = {std::string(kSecret2), std::string(kSecret1)};
  const std::string header = SignatureHeader(secrets, kId1, kTs1, kBody1);
  EXPECT_EQ(header, Sign(SecretKey(kSecret2), kId1, kTs1, kBody1) + " " + std::string(kSig1));
  EXPECT_TRUE(Verify(kSecret1, kId1, std::to_string(kTs1), kBody1, header, kTs1).ok);
  EXPECT_TRUE(Verify(kSecret2, kId1, std::to_string(kTs1), kBody1, header, kTs1).ok);
  EXPECT_FALSE(Verify("whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCBhdCBhbGw=", kId1, std::to_string(kTs1),
                      kBody1, header, kTs1)
                   .ok);
}

TEST(SignatureTest, SignedHeadersCarryIdTimestampAndSignature) {
  const Headers h = SignedHeaders({std::string(kSecret2)}, kId2, kTs2, kBody2);
  ASSERT_EQ(h.size(), 3u);
  EXPECT_EQ(h[0], (std::pair<std::string, std::string>{"webhook-id", std::string(kId2)}));
  EXPECT_EQ(h[1], (std::pair<std::string, std::string>{"webhook-timestamp", "1649367553"}));
  EXPECT_EQ(h[2], (std::pair<std::string, std::string>{"webhook-signature", std::string(kSig2)}));
}

TEST(SignatureTest, PlainSecretUsesItsBytesAsKey) {
  const std::string secret = "a-plain-shared-secret-of-some-length";
  EXPECT_EQ(SignatureHeader({secret}, kId1, kTs1, kBody1), Sign(secret, kId1, kTs1, kBody1));
}

TEST(SignatureVerifyTest, AcceptsOfficialVectorWithinTolerance) {
  EXPECT_TRUE(Verify(kSecret2, kId2, "1649367553", kBody2, kSig2, kTs2).ok);
  EXPECT_TRUE(Verify(kSecret2, kId2, "1649367553", kBody2, kSig2, kTs2 + 300).ok);
  EXPECT_TRUE(Verify(kSecret2, kId2, "1649367553", kBody2, kSig2, kTs2 - 300).ok);
}

TEST(SignatureVerifyTest, RejectsTamperedBody) {
  auto r = Verify(kSecret2, kId2, "1649367553",
                  R"({"email":"test@example.com","username":"test_user" })", kSig2, kTs2);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "no matching signature found");
}

TEST(SignatureVerifyTest, RejectsTamperedIdAndTimestamp) {
  EXPECT_FALSE(Verify(kSecret2, "msg_other", "1649367553", kBody2, kSig2, kTs2).ok);
  // A different timestamp inside the tolerance is still a different signed content.
  EXPECT_FALSE(Verify(kSecret2, kId2, "1649367554", kBody2, kSig2, kTs2).ok);
}

TEST(SignatureVerifyTest, RejectsTimestampsMoreThanFiveMinutesAway) {
  auto old_result = Verify(kSecret2, kId2, "1649367553", kBody2, kSig2, kTs2 + 301);
  EXPECT_FALSE(old_result.ok);
  EXPECT_EQ(old_result.error, "message timestamp too old");
  auto new_result = Verify(kSecret2, kId2, "1649367553", kBody2, kSig2, kTs2 - 301);
  EXPECT_FALSE(new_result.ok);
  EXPECT_EQ(new_result.error, "message timestamp too new");
  EXPECT_TRUE(Verify(kSecret2, kId2, "1649367553", kBody2, kSig2, kTs2 + 3600, 3600).ok);
}

TEST(SignatureVerifyTest, RejectsMalformedTimestampAndHeaders) {
  EXPECT_FALSE(Verify(kSecret2, kId2, "+1649367553", kBody2, kSig2, kTs2).ok);
  EXPECT_FALSE(Verify(kSecret2, kId2, "1649367553 ", kBody2, kSig2, kTs2).ok);
  EXPECT_FALSE(Verify(kSecret2, kId2, "", kBody2, kSig2, kTs2).ok);
  EXPECT_FALSE(Verify(kSecret2, kId2, "1649367553", kBody2, "", kTs2).ok);
  EXPECT_FALSE(Verify(kSecret2, kId2, "1649367553", kBody2, "v1,not-base64!", kTs2).ok);
  // Same bytes under another version tag are not a v1 signature.
  std::string v2 = "v2," + std::string(kSig2.substr(3));
  EXPECT_FALSE(Verify(kSecret2, kId2, "1649367553", kBody2, v2, kTs2).ok);
  // A truncated signature must not match as a prefix.
  EXPECT_FALSE(Verify(kSecret2, kId2, "1649367553", kBody2, "v1,tZ1I4/hDygAJgO5T", kTs2).ok);
}

TEST(SignatureVerifyTest, FindsMatchAmongUnknownAndWrongEntries) {
  const std::string header =
      "v1a,whatever v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " + std::string(kSig2);
  EXPECT_TRUE(Verify(kSecret2, kId2, "1649367553", kBody2, header, kTs2).ok);
}

}  // namespace
}  // namespace mambo::delivery
