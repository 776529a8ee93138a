#include "crypto/crypto.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "mambo/validation.h"

namespace mambo::crypto {
namespace {

TEST(Crypto, IdsArePrefixedSortableAndUnique) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = NewId("wh", 1700000000000 + i);
    ASSERT_EQ(id.size(), 3u + 26u);
    EXPECT_EQ(id.rfind("wh_", 0), 0u);
    EXPECT_EQ(id.find('.'), std::string::npos);  // valid Standard Webhooks message id
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_LT(NewId("x", 1000), NewId("x", 2000));  // time-ordered
}

TEST(Crypto, GeneratedSecretsAreValidStandardWebhooksSecrets) {
  const std::string a = GenerateWebhookSecret(), b = GenerateWebhookSecret();
  EXPECT_NE(a, b);
  EXPECT_EQ(SecretError(a), std::nullopt);
  EXPECT_EQ(SecretKey(a).size(), 32u);
}

TEST(Crypto, Base64RoundTripsAndRejectsGarbage) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    EXPECT_EQ(Base64Decode(Base64Encode(s)), s);
  }
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64Decode("abc"), std::nullopt);
}

TEST(Crypto, Sha256MatchesKnownVector) {
  EXPECT_EQ(Hex(Sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(SecretBox, SealsAndOpensBoundToItsRow) {
  SecretBox box(std::string(32, 'k'));
  const std::string sealed = box.Seal("whsec_abc", "wh_1");
  EXPECT_EQ(sealed.find("whsec_abc"), std::string::npos);
  EXPECT_EQ(box.Open(sealed, "wh_1"), "whsec_abc");
  EXPECT_EQ(box.Open(sealed, "wh_2"), std::nullopt);  // copied to another row: refused
  std::string tampered = sealed;
  tampered[tampered.size() / 2] ^= 1;
  EXPECT_EQ(box.Open(tampered, "wh_1"), std::nullopt);
  EXPECT_EQ(SecretBox(std::string(32, 'x')).Open(sealed, "wh_1"), std::nullopt);
  EXPECT_NE(box.Seal("same", "a"), box.Seal("same", "a"));  // fresh nonce each time
  EXPECT_EQ(box.Open("short", "a"), std::nullopt);
}

TEST(MainKey, CreatedOnceWithMode0600AndReloaded) {
  const auto dir = std::filesystem::temp_directory_path() / ("mambo-key-" + Hex(RandomBytes(6)));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "master.key").string();
  std::string key1, key2;
  EXPECT_EQ(LoadOrCreateMainKey(path, true, key1), std::nullopt);
  EXPECT_EQ(key1.size(), 32u);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(LoadOrCreateMainKey(path, true, key2), std::nullopt);
  EXPECT_EQ(key1, key2);
  std::string none;
  auto err = LoadOrCreateMainKey((dir / "missing.key").string(), false, none);
  ASSERT_TRUE(err);
  EXPECT_NE(err->find("cannot read main key file"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mambo::crypto
