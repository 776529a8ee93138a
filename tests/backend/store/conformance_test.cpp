// The store conformance suite: what the API and the engine rely on from a store, run against
// every backend (typed tests): SQLite in a temporary directory and PostgreSQL in a fresh
// database of a throwaway cluster. A behaviour belongs here unless it is one backend's own
// (SQLite's write-ahead log, PostgreSQL's migration lock: in their own tests).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "crypto/crypto.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "support/pg_cluster.h"

namespace mambo::store {
namespace {

const std::string kKey(32, 'k');

class SqliteBackend {
 public:
  SqliteBackend()
      : dir_(std::filesystem::temp_directory_path() /
             ("mambo-conf-" + crypto::Hex(crypto::RandomBytes(6)))) {
    Open(kKey);
  }
  ~SqliteBackend() {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open(const std::string& key) {
    store_.reset();
    store_ = std::make_unique<SqliteStore>(dir_.string(), crypto::SecretBox(key));
  }
  ConfigStore& config() { return *store_; }
  static constexpr const char* kName = "sqlite";

 private:
  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
};

class PgBackend {
 public:
  PgBackend() : uri_(testing::PgCluster::Get().NewDatabase()) { Open(kKey); }
  void Open(const std::string& key) {
    config_.reset();
    db_.reset();
    db_ = std::make_unique<PgDatabase>(uri_, crypto::SecretBox(key));
    config_ = std::make_unique<PgConfigStore>(*db_);
  }
  ConfigStore& config() { return *config_; }
  const std::string& uri() const { return uri_; }
  static constexpr const char* kName = "postgresql";

 private:
  std::string uri_;
  std::unique_ptr<PgDatabase> db_;
  std::unique_ptr<PgConfigStore> config_;
};

template <typename Backend>
class StoreConformance : public ::testing::Test {
 protected:
  AuditEntry Audit(const std::string& team, const std::string& target, int64_t at = 1,
                   const std::string& action = "test") {
    return AuditEntry{crypto::NewId("aud", at), team, "tok_test", at, action, target, nullptr,
                      Json{{"target", target}}};
  }
  Webhook MakeWebhook(const std::string& team, std::vector<std::string> events = {"device.enroll"},
                      bool active = true) {
    Webhook w;
    w.id = crypto::NewId("wh", 1000);
    w.team_id = team;
    w.url = "https://example.com/" + w.id;
    w.events = std::move(events);
    w.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    w.active = active;
    w.created_at = w.updated_at = 1000;
    return w;
  }
  Webhook Create(const std::string& team, std::vector<std::string> events = {"device.enroll"}) {
    Webhook w = MakeWebhook(team, std::move(events));
    EXPECT_TRUE(config().CreateWebhook(w, Audit(team, w.id)));
    return w;
  }
  ConfigStore& config() { return backend_.config(); }
  Backend backend_;
};

class BackendNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return T::kName;
  }
};
using Backends = ::testing::Types<SqliteBackend, PgBackend>;
TYPED_TEST_SUITE(StoreConformance, Backends, BackendNames);

// ------------------------------------------------------------------ tokens

TYPED_TEST(StoreConformance, TokensAreFoundByHashUntilRevoked) {
  ConfigStore& s = this->config();
  const std::string hash = crypto::Sha256("mambo_secret_token");
  const std::string stamp0 = s.TokensStamp();
  const ApiToken t = s.CreateToken("acme", Role::kAdmin, hash, 100);
  const std::string stamp1 = s.TokensStamp();
  EXPECT_NE(stamp0, stamp1) << "a new token changes the stamp";
  auto found = s.FindActiveToken(hash);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->id, t.id);
  EXPECT_EQ(found->team_id, "acme");
  EXPECT_EQ(found->role, Role::kAdmin);
  EXPECT_EQ(found->created_at, 100);
  EXPECT_FALSE(s.FindActiveToken(crypto::Sha256("another")));
  s.CreateToken("globex", Role::kIngest, crypto::Sha256("globex token"), 200);
  EXPECT_EQ(s.ListTokens(std::nullopt).size(), 2u);
  ASSERT_EQ(s.ListTokens(std::string("globex")).size(), 1u);
  EXPECT_EQ(s.ListTokens(std::string("globex"))[0].role, Role::kIngest);

  EXPECT_TRUE(s.RevokeToken(t.id, 300));
  EXPECT_NE(s.TokensStamp(), stamp1) << "a revocation changes the stamp";
  EXPECT_FALSE(s.FindActiveToken(hash));
  EXPECT_FALSE(s.RevokeToken(t.id, 400)) << "revoked once";
  EXPECT_FALSE(s.RevokeToken("tok_unknown", 400));
  const auto listed = s.ListTokens(std::string("acme"));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].revoked_at, 300);
}

// ------------------------------------------------------------------ webhooks

TYPED_TEST(StoreConformance, AWebhookKeepsEveryFieldAndItsSecret) {
  ConfigStore& s = this->config();
  Webhook w = this->MakeWebhook("acme", {"device.enroll", "device.wipe"});
  w.description = "Ünïcödé 描述 🚀 \"quoted\" \\ '";
  ASSERT_TRUE(s.CreateWebhook(w, this->Audit("acme", w.id)));
  auto got = s.GetWebhook("acme", w.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, w.id);
  EXPECT_EQ(got->team_id, "acme");
  EXPECT_EQ(got->url, w.url);
  EXPECT_EQ(got->events, w.events);
  EXPECT_EQ(got->secret, w.secret);
  EXPECT_TRUE(got->active);
  EXPECT_EQ(got->description, w.description);
  EXPECT_FALSE(got->disabled_reason);
  EXPECT_EQ(got->created_at, 1000);
  EXPECT_EQ(got->updated_at, 1000);

  Webhook bare = this->MakeWebhook("acme");
  bare.secret.reset();
  ASSERT_TRUE(s.CreateWebhook(bare, this->Audit("acme", bare.id)));
  EXPECT_FALSE(s.GetWebhook("acme", bare.id)->secret);
}

TYPED_TEST(StoreConformance, AnotherTeamsWebhookIsNotFound) {
  ConfigStore& s = this->config();
  const Webhook w = this->Create("acme");
  EXPECT_FALSE(s.GetWebhook("globex", w.id));
  Webhook changed = w;
  changed.team_id = "globex";
  changed.url = "https://evil.example/";
  EXPECT_FALSE(s.UpdateWebhook(changed, false, this->Audit("globex", w.id)));
  EXPECT_FALSE(s.DeleteWebhook("globex", w.id, this->Audit("globex", w.id)));
  EXPECT_FALSE(s.RotateSecret("globex", w.id, "whsec_x", 1, this->Audit("globex", w.id)));
  EXPECT_FALSE(s.DisableWebhook("globex", w.id, "no", this->Audit("globex", w.id)));
  EXPECT_EQ(s.GetWebhook("acme", w.id)->url, w.url);
  EXPECT_TRUE(s.ListWebhooks("globex", 10, "").items.empty());
  EXPECT_TRUE(s.ListAudit("globex", 10, "").items.empty()) << "nothing was changed";
}

TYPED_TEST(StoreConformance, ListsPageInCreationOrderWithoutSecretValues) {
  ConfigStore& s = this->config();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(this->Create("acme").id);
  this->Create("globex");
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    Page<Webhook> page = s.ListWebhooks("acme", 2, cursor);
    ++pages;
    for (const Webhook& w : page.items) {
      seen.push_back(w.id);
      ASSERT_TRUE(w.secret);
      EXPECT_EQ(*w.secret, "") << "a list says a secret exists, never what it is";
    }
    cursor = page.next_cursor.value_or("");
  } while (!cursor.empty());
  EXPECT_EQ(seen, ids);
  EXPECT_EQ(pages, 3);
}

TYPED_TEST(StoreConformance, UpdatesReplaceTheRowAndDeletesRemoveIt) {
  ConfigStore& s = this->config();
  const Webhook w = this->Create("acme");
  Webhook changed = w;
  changed.url = "https://example.org/new";
  changed.events = {"device.wipe"};
  changed.active = false;
  changed.description = "now described";
  changed.secret = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  changed.updated_at = 2000;
  ASSERT_TRUE(s.UpdateWebhook(changed, true, this->Audit("acme", w.id)));
  auto got = s.GetWebhook("acme", w.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->url, changed.url);
  EXPECT_EQ(got->events, changed.events);
  EXPECT_FALSE(got->active);
  EXPECT_EQ(got->description, changed.description);
  EXPECT_EQ(got->secret, changed.secret);
  EXPECT_EQ(got->updated_at, 2000);
  EXPECT_EQ(got->created_at, 1000);

  ASSERT_TRUE(s.DeleteWebhook("acme", w.id, this->Audit("acme", w.id)));
  EXPECT_FALSE(s.GetWebhook("acme", w.id));
  EXPECT_FALSE(s.DeleteWebhook("acme", w.id, this->Audit("acme", w.id)));
}

TYPED_TEST(StoreConformance, RotationMakesTheNewSecretCurrent) {
  ConfigStore& s = this->config();
  const Webhook w = this->Create("acme");
  ASSERT_TRUE(s.RotateSecret("acme", w.id, "whsec_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 5000,
                             this->Audit("acme", w.id, 3000)));
  auto got = s.GetWebhook("acme", w.id);
  EXPECT_EQ(got->secret, "whsec_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
  EXPECT_EQ(got->updated_at, 3000);
}

TYPED_TEST(StoreConformance, DisablingKeepsTheReasonAndHappensOnce) {
  ConfigStore& s = this->config();
  const Webhook w = this->Create("acme");
  ASSERT_TRUE(s.DisableWebhook("acme", w.id, "410 Gone", this->Audit("acme", w.id, 4000)));
  auto got = s.GetWebhook("acme", w.id);
  EXPECT_FALSE(got->active);
  EXPECT_EQ(got->disabled_reason, "410 Gone");
  EXPECT_EQ(got->updated_at, 4000);
  EXPECT_FALSE(s.DisableWebhook("acme", w.id, "again", this->Audit("acme", w.id)));
  EXPECT_EQ(s.GetWebhook("acme", w.id)->disabled_reason, "410 Gone");
}

TYPED_TEST(StoreConformance, TheQuotaHoldsForConcurrentCreates) {
  ConfigStore& s = this->config();
  constexpr size_t kMax = 5;
  std::atomic<int> created{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {
        Webhook w = this->MakeWebhook("acme");
        if (s.CreateWebhook(w, this->Audit("acme", w.id), kMax)) created.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(created.load(), static_cast<int>(kMax));
  EXPECT_EQ(s.ListWebhooks("acme", 100, "").items.size(), kMax);
  EXPECT_EQ(s.ListAudit("acme", 100, "").items.size(), kMax) << "no audit for a refused create";
  // Another team has its own count.
  Webhook other = this->MakeWebhook("globex");
  EXPECT_TRUE(s.CreateWebhook(other, this->Audit("globex", other.id), kMax));
}

// ------------------------------------------------------------------ audit

TYPED_TEST(StoreConformance, EveryChangeIsAuditedNewestFirst) {
  ConfigStore& s = this->config();
  const Webhook w = this->MakeWebhook("acme");
  ASSERT_TRUE(s.CreateWebhook(w, this->Audit("acme", w.id, 1, "webhook.create")));
  Webhook changed = w;
  changed.url = "https://example.org/x";
  ASSERT_TRUE(s.UpdateWebhook(changed, false, this->Audit("acme", w.id, 2, "webhook.update")));
  ASSERT_TRUE(s.RotateSecret("acme", w.id, "whsec_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", 9,
                             this->Audit("acme", w.id, 3, "webhook.rotate")));
  s.AppendAudit(this->Audit("acme", w.id, 4, "webhook.secret_reveal"));
  ASSERT_TRUE(s.DeleteWebhook("acme", w.id, this->Audit("acme", w.id, 5, "webhook.delete")));
  std::vector<std::string> actions;
  std::string cursor;
  do {
    Page<AuditEntry> page = s.ListAudit("acme", 2, cursor);
    for (const AuditEntry& a : page.items) {
      actions.push_back(a.action);
      EXPECT_EQ(a.target_id, w.id);
      EXPECT_EQ(a.actor, "tok_test");
      EXPECT_TRUE(a.before.is_null());
      EXPECT_EQ(a.after, (Json{{"target", w.id}}));
    }
    cursor = page.next_cursor.value_or("");
  } while (!cursor.empty());
  EXPECT_EQ(actions,
            (std::vector<std::string>{"webhook.delete", "webhook.secret_reveal", "webhook.rotate",
                                      "webhook.update", "webhook.create"}));
}

// ------------------------------------------------------------------ the main key

TYPED_TEST(StoreConformance, AnotherMainKeyIsRefusedAtOpen) {
  this->Create("acme");
  EXPECT_THROW(this->backend_.Open(std::string(32, 'z')), StoreError);
  this->backend_.Open(kKey);
  EXPECT_EQ(this->config().ListWebhooks("acme", 10, "").items.size(), 1u);
}

}  // namespace
}  // namespace mambo::store
