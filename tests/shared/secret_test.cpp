// Signing secrets: "generate" or Standard Webhooks "whsec_" + base64 of 24..64 bytes (plain ones
// stored earlier still sign with their bytes); and the strict base64 decoder behind them.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "mambo/validation.h"

namespace mambo {
namespace {

std::string EncodeBase64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    unsigned n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// `count` bytes covering every byte value, so decoding is checked beyond ASCII.
std::string Bytes(size_t count) {
  std::string bytes;
  for (size_t i = 0; i < count; ++i) bytes += static_cast<char>((i * 37 + 250) & 0xff);
  return bytes;
}

std::string Whsec(size_t byte_count) {
  return "whsec_" + EncodeBase64(Bytes(byte_count));
}

std::optional<std::string> Error(const std::string& message) {
  return message;
}

constexpr const char* kNotBase64 = "Secret starting with whsec_ must be followed by valid base64";

std::string WrongSize(size_t n) {
  return "Secret starting with whsec_ must encode 24 to 64 bytes (it encodes " + std::to_string(n) +
         ")";
}

TEST(Secret, GenerateIsAccepted) {
  EXPECT_EQ(SecretError("generate"), std::nullopt);
  EXPECT_EQ(SecretError(kGenerateSecret), std::nullopt);
}

TEST(Secret, StandardWebhooksVectorKeysAreAccepted) {
  EXPECT_EQ(SecretError("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::nullopt);
  EXPECT_EQ(SecretError("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"), std::nullopt);
}

TEST(Secret, WhsecAccepts24To64Bytes) {
  for (size_t n = 24; n <= 64; ++n) {
    EXPECT_EQ(SecretError(Whsec(n)), std::nullopt) << n << " bytes: " << Whsec(n);
  }
}

TEST(Secret, WhsecRejects23And65BytesWithTheCount) {
  EXPECT_EQ(SecretError(Whsec(23)), Error(WrongSize(23)));
  EXPECT_EQ(SecretError(Whsec(65)), Error(WrongSize(65)));
  EXPECT_EQ(SecretError(Whsec(1)), Error(WrongSize(1)));
  EXPECT_EQ(SecretError("whsec_"), Error(WrongSize(0)));
}

TEST(Secret, WhsecRejectsInvalidBase64) {
  const std::string valid = Whsec(32);  // 44 base64 characters ending in '='
  EXPECT_EQ(SecretError(valid.substr(0, valid.size() - 1)), Error(kNotBase64));  // no padding
  EXPECT_EQ(SecretError("whsec_" + std::string(40, 'A') + "A!AA"), Error(kNotBase64));
  EXPECT_EQ(SecretError("whsec_" + std::string(40, 'A') + "AA-_"), Error(kNotBase64));  // url
  EXPECT_EQ(SecretError("whsec_" + std::string(20, 'A') + " " + std::string(19, 'A')),
            Error(kNotBase64));
  EXPECT_EQ(SecretError("whsec_" + std::string(40, 'A') + "A=AA"), Error(kNotBase64));
  EXPECT_EQ(SecretError(valid + "\n"), Error(kNotBase64));
}

// A secret typed in plain text would sign deliveries the Standard Webhooks libraries reject (they
// base64-decode the key): refused, whatever its length or characters, with the reason.
TEST(Secret, PlainTextSecretsAreRefusedWithTheReason) {
  for (const std::string& plain :
       {std::string(16, 'x'), std::string(256, 'x'), std::string("It's a Secret to Everybody"),
        std::string(""), std::string(20, 'x') + "\n", "WHSEC_" + EncodeBase64(Bytes(32)),
        "whsec" + EncodeBase64(Bytes(32))}) {
    EXPECT_EQ(SecretError(plain), Error(std::string(kSecretFormMessage))) << plain;
  }
  EXPECT_EQ(SecretError("whsec_!"), Error(kNotBase64));  // the prefix is exact: then base64
}

TEST(Secret, KeyOfWhsecSecretIsTheDecodedBytes) {
  for (size_t n : {24u, 25u, 26u, 32u, 64u}) {
    EXPECT_EQ(SecretKey(Whsec(n)), Bytes(n)) << n;
  }
  const std::string key = SecretKey("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_EQ(key.size(), 24u);
  EXPECT_EQ(static_cast<unsigned char>(key[0]), 0x31u);
  EXPECT_EQ(static_cast<unsigned char>(key[23]), 0xb0u);
}

// Plain secrets stored before they were refused keep signing, with their bytes as the key.
TEST(Secret, KeyOfPlainSecretIsItsBytes) {
  EXPECT_EQ(SecretKey("It's a Secret to Everybody"), "It's a Secret to Everybody");
  EXPECT_EQ(SecretKey(std::string(16, 'x')), std::string(16, 'x'));
  EXPECT_EQ(SecretKey("WHSEC_AAAAAAAAAAAAAAAAAAAA"), "WHSEC_AAAAAAAAAAAAAAAAAAAA");
}

TEST(Base64, DecodesRfc4648Vectors) {
  EXPECT_EQ(DecodeBase64(""), std::optional<std::string>(""));
  EXPECT_EQ(DecodeBase64("Zg=="), std::optional<std::string>("f"));
  EXPECT_EQ(DecodeBase64("Zm8="), std::optional<std::string>("fo"));
  EXPECT_EQ(DecodeBase64("Zm9v"), std::optional<std::string>("foo"));
  EXPECT_EQ(DecodeBase64("Zm9vYg=="), std::optional<std::string>("foob"));
  EXPECT_EQ(DecodeBase64("Zm9vYmE="), std::optional<std::string>("fooba"));
  EXPECT_EQ(DecodeBase64("Zm9vYmFy"), std::optional<std::string>("foobar"));
}

TEST(Base64, RoundTripsEveryByteValue) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n <= all.size(); n += 1) {
    const std::string bytes = all.substr(0, n);
    EXPECT_EQ(DecodeBase64(EncodeBase64(bytes)), std::optional<std::string>(bytes)) << n;
  }
  EXPECT_EQ(DecodeBase64("+/+/"), std::optional<std::string>("\xfb\xff\xbf"));
}

TEST(Base64, RequiresPadding) {
  EXPECT_EQ(DecodeBase64("Zg"), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zg="), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zm8"), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zm9vY"), std::nullopt);
}

TEST(Base64, RejectsMisplacedPadding) {
  EXPECT_EQ(DecodeBase64("===="), std::nullopt);
  EXPECT_EQ(DecodeBase64("Z==="), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zg=A"), std::nullopt);      // data after padding
  EXPECT_EQ(DecodeBase64("Zg==Zm9v"), std::nullopt);  // padding before the last group
  EXPECT_EQ(DecodeBase64("Zm9v===="), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zg==="), std::nullopt);
}

TEST(Base64, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_EQ(DecodeBase64("Zm9-"), std::nullopt);  // base64url
  EXPECT_EQ(DecodeBase64("Zm9_"), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zm9 "), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zm\n9v"), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zm9v\r\n"), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zm.v"), std::nullopt);
  EXPECT_EQ(DecodeBase64(std::string("Zm9\0", 4)), std::nullopt);
  EXPECT_EQ(DecodeBase64("Zm9\xc3"), std::nullopt);
}

TEST(Base64, RejectsNonCanonicalEncodings) {
  // The unused low bits of the last character before padding must be zero.
  EXPECT_EQ(DecodeBase64("Zh=="), std::nullopt);  // 'h' sets bits that "Zg==" leaves clear
  EXPECT_EQ(DecodeBase64("Zm9="), std::nullopt);  // "Zm8=" is the canonical form
  EXPECT_EQ(DecodeBase64("AB=="), std::nullopt);
  EXPECT_EQ(DecodeBase64("AAB="), std::nullopt);
  EXPECT_EQ(DecodeBase64("AA=="), std::optional<std::string>(std::string(1, '\0')));
  EXPECT_EQ(DecodeBase64("AAA="), std::optional<std::string>(std::string(2, '\0')));
}

}  // namespace
}  // namespace mambo
