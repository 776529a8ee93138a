// The store conformance suite: what the API and the engine rely on from a store, run against
// every backend (typed tests): SQLite in a temporary directory and PostgreSQL in a fresh
// database of a throwaway cluster. A behaviour belongs here unless it is one backend's own
// (SQLite's write-ahead log, PostgreSQL's migration lock: in their own tests).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "crypto/crypto.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"
#include "support/pg_cluster.h"
#include "support/store_fixtures.h"

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
  QueueStore& queue() { return *store_; }
  HistoryStore& history() { return *store_; }
  // The first column of the first row of `sql`, read beside the store.
  int64_t Count(const char* sql) {
    Db db((dir_ / "webhookd.db").string(), true);
    Query q(db, sql);
    return q.Step() ? q.Int(0) : -1;
  }
  // The bytes of the first column of the first row of `sql` (a BLOB), as stored.
  std::string Bytes(const char* sql) {
    Db db((dir_ / "webhookd.db").string(), true);
    Query q(db, sql);
    return q.Step() ? q.OptText(0).value_or("") : "";
  }
  // What the backend keeps beside the rows every test reads, checked after each test.
  void ExpectConsistent() {}
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
    queue_.reset();
    history_.reset();
    db_.reset();
    db_ = std::make_unique<PgDatabase>(uri_, crypto::SecretBox(key));
    config_ = std::make_unique<PgConfigStore>(*db_);
    queue_ = std::make_unique<PgQueueStore>(*db_, "test-instance");
    history_ = std::make_unique<PgHistoryStore>(*db_);
  }
  ConfigStore& config() { return *config_; }
  QueueStore& queue() { return *queue_; }
  HistoryStore& history() { return *history_; }
  int64_t Count(const char* sql) {
    auto c = db_->pool().Acquire();
    pg::Result r = c->Run(sql);
    return r.rows() > 0 ? r.Int(0, 0) : -1;
  }
  std::string Bytes(const char* sql) {
    auto c = db_->pool().Acquire();
    pg::Result r = c->Run(sql);
    return r.rows() > 0 && !r.IsNull(0, 0) ? r.Bytes(0, 0) : "";
  }
  const std::string& uri() const { return uri_; }
  // The queue table mirrors the live deliveries exactly (the statements that write deliveries
  // keep it): a row missing would never be sent, a row left over would be leased in vain. And
  // no row lost its parent (the writers keep that too, without foreign keys).
  void ExpectConsistent() {
    if (!db_) return;
    EXPECT_EQ(Count("SELECT count(*) FROM attempts a WHERE NOT EXISTS "
                    "(SELECT 1 FROM deliveries d WHERE d.id = a.delivery_id)"),
              0)
        << "attempts without their delivery";
    EXPECT_EQ(Count("SELECT count(*) FROM deliveries d WHERE NOT EXISTS "
                    "(SELECT 1 FROM events e WHERE e.seq = d.event_seq)"),
              0)
        << "deliveries without their event";
    EXPECT_EQ(Count("SELECT count(*) FROM events e WHERE NOT EXISTS "
                    "(SELECT 1 FROM teams t WHERE t.id = e.team_id)"),
              0)
        << "events without their team";
    EXPECT_EQ(Count("SELECT count(*) FROM ("
                    "(SELECT seq, due_at, webhook_id, team_id, forced FROM deliveries "
                    " WHERE status IN ('pending', 'failed', 'in_flight') "
                    " EXCEPT SELECT seq, due_at, webhook_id, team_id, forced FROM queue) "
                    "UNION ALL (SELECT seq, due_at, webhook_id, team_id, forced FROM queue "
                    " EXCEPT SELECT seq, due_at, webhook_id, team_id, forced FROM deliveries "
                    " WHERE status IN ('pending', 'failed', 'in_flight'))) AS diff"),
              0);
  }
  static constexpr const char* kName = "postgresql";

 private:
  std::string uri_;
  std::unique_ptr<PgDatabase> db_;
  std::unique_ptr<PgConfigStore> config_;
  std::unique_ptr<PgQueueStore> queue_;
  std::unique_ptr<PgHistoryStore> history_;
};

template <typename Backend>
class StoreConformance : public ::testing::Test {
 protected:
  void TearDown() override { backend_.ExpectConsistent(); }
  AuditEntry Audit(const std::string& team, const std::string& target, int64_t at = 1,
                   const std::string& action = "test") {
    return testing::TestAudit(team, target, at, action);
  }
  Webhook MakeWebhook(const std::string& team, std::vector<std::string> events = {"device.enroll"},
                      bool active = true) {
    return testing::TestWebhook(team, std::move(events), active);
  }
  Webhook Create(const std::string& team, std::vector<std::string> events = {"device.enroll"}) {
    Webhook w = MakeWebhook(team, std::move(events));
    EXPECT_TRUE(config().CreateWebhook(w, Audit(team, w.id)));
    return w;
  }
  ConfigStore& config() { return backend_.config(); }
  QueueStore& queue() { return backend_.queue(); }
  HistoryStore& history() { return backend_.history(); }
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

TYPED_TEST(StoreConformance, TokensKeepTheirDetailsAndWhenTheyWereLastUsed) {
  ConfigStore& s = this->config();
  const ApiToken t =
      s.CreateToken("acme", Role::kViewer, crypto::Sha256("viewer"), 100,
                    TokenDetails{"Support desk, read only", 5000, this->Audit("acme", "", 100)});
  auto found = s.FindActiveToken(crypto::Sha256("viewer"));
  ASSERT_TRUE(found);
  EXPECT_EQ(found->role, Role::kViewer);
  EXPECT_EQ(found->description, "Support desk, read only");
  EXPECT_EQ(found->expires_at, 5000);
  EXPECT_FALSE(found->last_used_at);
  EXPECT_FALSE(found->Expired(4999));
  EXPECT_TRUE(found->Expired(5000));
  const AuditEntry created = s.ListAudit("acme", 1, "").items.at(0);
  EXPECT_EQ(created.target_id, t.id) << "the audit entry names the new token";
  const std::string stamp = s.TokensStamp();
  s.TouchToken(t.id, 2000);
  EXPECT_EQ(s.FindActiveToken(crypto::Sha256("viewer"))->last_used_at, 2000);
  EXPECT_EQ(s.TokensStamp(), stamp) << "a use invalidates no cached lookup";
}

// A team keeps an admin: its last usable admin token cannot be revoked through the API (an
// expired one does not count), and no team reaches another's tokens.
TYPED_TEST(StoreConformance, ATeamsLastAdminTokenIsKept) {
  ConfigStore& s = this->config();
  const ApiToken first = s.CreateToken("acme", Role::kAdmin, crypto::Sha256("a1"), 100);
  const ApiToken second = s.CreateToken("acme", Role::kAdmin, crypto::Sha256("a2"), 100);
  const ApiToken expired = s.CreateToken("acme", Role::kAdmin, crypto::Sha256("a3"), 100,
                                         TokenDetails{"", 500, std::nullopt});
  const ApiToken ingest = s.CreateToken("acme", Role::kIngest, crypto::Sha256("i"), 100);
  const ApiToken other = s.CreateToken("globex", Role::kAdmin, crypto::Sha256("g"), 100);
  using R = ConfigStore::RevokeResult;
  EXPECT_EQ(s.RevokeTeamToken("globex", first.id, this->Audit("globex", first.id, 1000)),
            R::kNotFound);
  const std::string stamp = s.TokensStamp();
  EXPECT_EQ(s.RevokeTeamToken("acme", first.id, this->Audit("acme", first.id, 1000)), R::kRevoked);
  EXPECT_NE(s.TokensStamp(), stamp) << "instances drop their cached lookups";
  EXPECT_FALSE(s.FindActiveToken(crypto::Sha256("a1")));
  EXPECT_EQ(s.ListAudit("acme", 1, "").items.at(0).target_id, first.id);
  EXPECT_EQ(s.RevokeTeamToken("acme", first.id, this->Audit("acme", first.id, 1000)), R::kNotFound)
      << "revoked once";
  EXPECT_EQ(s.RevokeTeamToken("acme", second.id, this->Audit("acme", second.id, 1000)),
            R::kLastAdmin)
      << "the expired admin token does not count";
  EXPECT_TRUE(s.FindActiveToken(crypto::Sha256("a2")));
  EXPECT_EQ(s.RevokeTeamToken("acme", ingest.id, this->Audit("acme", ingest.id, 1000)),
            R::kRevoked);
  EXPECT_EQ(s.RevokeTeamToken("acme", expired.id, this->Audit("acme", expired.id, 1000)),
            R::kRevoked)
      << "an expired token can be revoked";
  EXPECT_EQ(s.RevokeTeamToken("globex", other.id, this->Audit("globex", other.id, 1000)),
            R::kLastAdmin);
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

// ------------------------------------------------------------------ ingest, queue, history

// Records one attempt of `task` as the engine would.
AttemptOutcome Outcome(const DeliveryTask& task, int64_t at, DeliveryStatus status,
                       std::optional<int> http_status) {
  AttemptOutcome o;
  o.lease_id = task.lease_id;
  o.attempt.id = crypto::NewId("att", at);
  o.attempt.delivery_id = task.delivery.id;
  o.attempt.number = task.delivery.attempt_count + 1;
  o.attempt.started_at = at;
  o.attempt.duration_ms = 5;
  o.attempt.http_status = http_status;
  o.attempt.cause = http_status ? FailureCause::kHttpStatus : FailureCause::kConnect;
  if (status == DeliveryStatus::kSucceeded) o.attempt.cause = FailureCause::kNone;
  o.status = status;
  o.next_attempt_at = at + 1000;
  return o;
}

TYPED_TEST(StoreConformance, IngestIsIdempotentAndFansOutToActiveSubscribers) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  config.CreateWebhook(this->MakeWebhook("t", {"device.enroll"}), this->Audit("t", "a"));
  config.CreateWebhook(this->MakeWebhook("t", {"device.enroll"}, false), this->Audit("t", "b"));
  config.CreateWebhook(this->MakeWebhook("t", {"team.update"}), this->Audit("t", "c"));
  config.CreateWebhook(this->MakeWebhook("u", {"device.enroll"}), this->Audit("u", "d"));
  Event e{"evt_1", "device.enroll", "t", 5000, Json{{"k", 1}, {"q", "a\"b\\c {d,e} NULL"}}};
  auto first = queue.IngestEvent(e, 5000);
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.delivery_ids.size(), 1u);
  auto second = queue.IngestEvent(e, 6000);
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.delivery_ids, first.delivery_ids);
  EXPECT_EQ(second.event.data, e.data) << "as stored";
  // Same id in another team is another event.
  Event other{"evt_1", "device.enroll", "u", 5000, Json::object()};
  EXPECT_TRUE(queue.IngestEvent(other, 5000).created);
}

// Ingests arriving together (PostgreSQL commits them in shared batches): each id is created
// once, with one delivery per subscriber, and every caller of the same id gets the same answer,
// whichever batch or instance took it.
TYPED_TEST(StoreConformance, ConcurrentIngestsCreateEachEventOnce) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(
        config.CreateWebhook(this->MakeWebhook("t", {"device.enroll"}), this->Audit("t", "")));
  }
  ASSERT_TRUE(
      config.CreateWebhook(this->MakeWebhook("u", {"device.enroll"}), this->Audit("u", "")));
  constexpr int kThreads = 8, kPerThread = 60, kIds = 120;
  std::vector<std::vector<std::pair<std::string, IngestResult>>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every id is sent by four threads, at about the same time.
        const int k = (i * 2 + t % 2) % kIds;
        const std::string team = k % 3 == 0 ? "u" : "t";
        Event e{"e" + std::to_string(k), "device.enroll", team, 100 + k, Json{{"k", k}}};
        seen[t].emplace_back(team + "/" + e.id, queue.IngestEvent(e, 100 + i));
      }
    });
  }
  for (auto& t : threads) t.join();
  std::map<std::string, std::vector<const IngestResult*>> by_id;
  for (const auto& per_thread : seen) {
    for (const auto& [key, r] : per_thread) by_id[key].push_back(&r);
  }
  ASSERT_EQ(by_id.size(), static_cast<size_t>(kIds));
  std::set<std::string> all_deliveries;
  for (const auto& [key, results] : by_id) {
    SCOPED_TRACE(key);
    EXPECT_EQ(std::count_if(results.begin(), results.end(),
                            [](const IngestResult* r) { return r->created; }),
              1);
    const bool team_u = key.front() == 'u';
    for (const IngestResult* r : results) {
      EXPECT_EQ(r->delivery_ids, results.front()->delivery_ids);
      EXPECT_EQ(r->event.id, key.substr(2));
      EXPECT_EQ(r->event.data, (Json{{"k", std::stoi(key.substr(3))}}));
    }
    EXPECT_EQ(results.front()->delivery_ids.size(), team_u ? 1u : 2u);
    all_deliveries.insert(results.front()->delivery_ids.begin(),
                          results.front()->delivery_ids.end());
  }
  const size_t expected = 40 * 1 + 80 * 2;  // ids 0, 3, 6, ... belong to team u
  EXPECT_EQ(all_deliveries.size(), expected);
  EXPECT_EQ(queue.Stats().pending, static_cast<int64_t>(expected));
}

// Fan-out reads a cache of each team's subscriptions: every kind of webhook change must reach
// the next ingest, including a change rolled back with its failing write.
TYPED_TEST(StoreConformance, FanOutFollowsEveryWebhookChange) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  int n = 0;
  auto fan_out = [&](const std::string& type) {
    return queue.IngestEvent(Event{"e" + std::to_string(++n), type, "t", 1, Json::object()}, 1)
        .delivery_ids.size();
  };
  Webhook w = this->MakeWebhook("t", {"device.enroll"});
  EXPECT_EQ(fan_out("device.enroll"), 0u);  // cached: no webhooks yet
  config.CreateWebhook(w, this->Audit("t", w.id));
  EXPECT_EQ(fan_out("device.enroll"), 1u);
  w.events = {"team.update"};
  ASSERT_TRUE(config.UpdateWebhook(w, false, this->Audit("t", w.id)));
  EXPECT_EQ(fan_out("device.enroll"), 0u);
  EXPECT_EQ(fan_out("team.update"), 1u);
  ASSERT_TRUE(config.DisableWebhook("t", w.id, "test", this->Audit("t", w.id)));
  EXPECT_EQ(fan_out("team.update"), 0u);
  w.active = true;
  ASSERT_TRUE(config.UpdateWebhook(w, false, this->Audit("t", w.id)));
  EXPECT_EQ(fan_out("team.update"), 1u);
  // A create that fails (its audit id collides) is rolled back: no delivery for that webhook.
  Webhook dup = this->MakeWebhook("t", {"team.update"});
  AuditEntry audit = this->Audit("t", dup.id);
  config.AppendAudit(audit);
  EXPECT_THROW(config.CreateWebhook(dup, audit), StoreError);
  EXPECT_EQ(fan_out("team.update"), 1u);
  ASSERT_TRUE(config.DeleteWebhook("t", w.id, this->Audit("t", w.id)));
  EXPECT_EQ(fan_out("team.update"), 0u);
}

// A lease hands out at most each webhook's room, oldest first, and fills the rest from others
// even when one webhook's backlog comes first in due order.
TYPED_TEST(StoreConformance, LeaseRespectsEachWebhooksRoom) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  Webhook busy = this->MakeWebhook("t", {"device.enroll"});
  Webhook other = this->MakeWebhook("t", {"team.update"});
  Webhook full = this->MakeWebhook("t", {"user.create"});
  for (const Webhook* w : {&busy, &other, &full}) config.CreateWebhook(*w, this->Audit("t", w->id));
  for (int i = 0; i < 6; ++i) {  // busy's backlog is due first
    queue.IngestEvent(Event{"b" + std::to_string(i), "device.enroll", "t", 1, Json::object()},
                      100 + i);
  }
  queue.IngestEvent(Event{"o", "team.update", "t", 1, Json::object()}, 200);
  queue.IngestEvent(Event{"f", "user.create", "t", 1, Json::object()}, 200);
  QueueStore::LeaseRoom room;
  room.default_room = 2;
  room.room[full.id] = 0;
  auto tasks = queue.LeaseDue(1000, 10, 50000, room);
  std::map<std::string, int> per_webhook;
  for (const auto& t : tasks) ++per_webhook[t.delivery.webhook_id];
  EXPECT_EQ(per_webhook[busy.id], 2);
  EXPECT_EQ(per_webhook[other.id], 1);
  EXPECT_EQ(per_webhook.count(full.id), 0u);
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].event.id, "b0");  // oldest first
  EXPECT_EQ(tasks[1].event.id, "b1");
  // What was left out is still due.
  EXPECT_EQ(queue.LeaseDue(1000, 10, 50000, {}).size(), 5u);
}

// A webhook out of room (a hung endpoint) never holds up the others, however long its backlog;
// one this lease fills is passed over only so far (4 x the lease's limit), to keep leases cheap.
TYPED_TEST(StoreConformance, LeasePassesOverAHungWebhooksBacklogButNotEndlesslyAFilledOnes) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  Webhook hung = this->MakeWebhook("t", {"device.enroll"});
  Webhook other = this->MakeWebhook("t", {"team.update"});
  for (const Webhook* w : {&hung, &other}) config.CreateWebhook(*w, this->Audit("t", w->id));
  for (int i = 0; i < 50; ++i) {
    queue.IngestEvent(Event{"h" + std::to_string(i), "device.enroll", "t", 1, Json::object()},
                      100 + i);
  }
  queue.IngestEvent(Event{"o", "team.update", "t", 1, Json::object()}, 500);
  QueueStore::LeaseRoom room;
  room.room[hung.id] = 0;
  auto tasks = queue.LeaseDue(1000, 2, 50000, room);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "o");

  // The same backlog with room 1: the lease takes h0, passes over 8 more and stops there,
  // before o2.
  queue.IngestEvent(Event{"o2", "team.update", "t", 1, Json::object()}, 600);
  room.room[hung.id] = 1;
  tasks = queue.LeaseDue(1000, 2, 50000, room);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "h0");
  // Out of room from the start, as the engine says next time: o2 is reached.
  room.room[hung.id] = 0;
  tasks = queue.LeaseDue(1000, 2, 50000, room);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "o2");
}

// Behind a backlog longer than a lease reads in due order (PostgreSQL passes over 256 rows
// without room, then visits webhook by webhook), the rest is still reached in due order: the
// other webhook's delivery and a disabled webhook's test delivery, not its ordinary one.
TYPED_TEST(StoreConformance, LeaseReachesPastALongBacklogWithoutRoom) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  Webhook hung = this->MakeWebhook("t", {"device.enroll"});
  Webhook off = this->MakeWebhook("t", {"device.update"});
  Webhook other = this->MakeWebhook("u", {"team.update"});
  for (const Webhook* w : {&hung, &off, &other}) {
    ASSERT_TRUE(config.CreateWebhook(*w, this->Audit(w->team_id, w->id)));
  }
  queue.IngestEvent(Event{"off1", "device.update", "t", 1, Json::object()}, 50);
  ASSERT_TRUE(config.DisableWebhook("t", off.id, "off", this->Audit("t", off.id)));
  for (int i = 0; i < 300; ++i) {
    queue.IngestEvent(Event{"h" + std::to_string(i), "device.enroll", "t", 1, Json::object()},
                      100 + i);
  }
  queue.IngestEvent(Event{"o", "team.update", "u", 1, Json::object()}, 1000);
  queue.QueueSingleDelivery(Event{"test", "webhook.test", "t", 1, Json::object()}, off.id, 1500);
  // With team u out of room too, only the test delivery.
  QueueStore::LeaseRoom room;
  room.room[hung.id] = 0;
  room.team_room["u"] = 0;
  auto tasks = queue.LeaseDue(2000, 3, 50000, room);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "test");
  room.team_room.clear();
  tasks = queue.LeaseDue(2000, 3, 50000, room);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "o");
  // The next due time behind the backlog: the leases' expiry (the backlog is left out; the
  // disabled webhook's ordinary delivery waits for it to be enabled).
  EXPECT_EQ(queue.NextDueAt({hung.id}), 50000);
  EXPECT_EQ(queue.NextDueAt({}), 100);
}

// Retention deletes finished deliveries (with their attempts) and the events left without one,
// before the cutoff only, and never a delivery still waiting, however old.
TYPED_TEST(StoreConformance, PruneDeletesWhatFinishedBeforeTheCutoffAndKeepsWhatWaits) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  Webhook w = this->MakeWebhook("t", {"device.enroll"});
  config.CreateWebhook(w, this->Audit("t", w.id));
  const auto d1 = queue.IngestEvent(Event{"e1", "device.enroll", "t", 100, Json::object()}, 100);
  const auto d2 = queue.IngestEvent(Event{"e2", "device.enroll", "t", 100, Json::object()}, 100);
  queue.IngestEvent(Event{"orphan", "team.update", "t", 100, Json::object()}, 100);  // no delivery
  const auto d3 = queue.IngestEvent(Event{"e3", "device.enroll", "t", 300, Json::object()}, 300);
  std::map<std::string, int64_t> leases;
  auto record = [&](const std::string& delivery_id, int64_t at, DeliveryStatus status) {
    AttemptOutcome o;
    o.lease_id = leases.at(delivery_id);
    o.attempt.id = "att_" + delivery_id;
    o.attempt.delivery_id = delivery_id;
    o.attempt.number = 1;
    o.attempt.started_at = at;
    o.attempt.http_status = status == DeliveryStatus::kSucceeded ? 200 : 500;
    o.status = status;
    o.next_attempt_at = 1'000'000'000;
    EXPECT_EQ(queue.RecordAttempt(o), RecordResult::kRecorded);
  };
  for (const DeliveryTask& t : queue.LeaseDue(1000, 10, 50000, {})) {
    leases[t.delivery.id] = t.lease_id;
  }
  ASSERT_EQ(leases.size(), 3u);
  record(d1.delivery_ids[0], 150, DeliveryStatus::kSucceeded);
  record(d2.delivery_ids[0], 150, DeliveryStatus::kFailed);  // waits for its retry
  record(d3.delivery_ids[0], 350, DeliveryStatus::kSucceeded);
  auto count = [&](const char* sql) { return this->backend_.Count(sql); };
  ASSERT_EQ(count("SELECT count(*) FROM attempts"), 3);

  EXPECT_EQ(history.PruneBefore(200, 10), 2);  // d1; e1 and the orphan event
  EXPECT_FALSE(history.GetDelivery("t", d1.delivery_ids[0]));
  EXPECT_TRUE(history.GetDelivery("t", d2.delivery_ids[0]));
  ASSERT_TRUE(history.GetDelivery("t", d3.delivery_ids[0]));
  EXPECT_EQ(history.GetDelivery("t", d3.delivery_ids[0])->attempts.size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM attempts"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE id IN ('e1', 'orphan')"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE id IN ('e2', 'e3')"), 2);
  EXPECT_EQ(history.PruneBefore(200, 10), 0);  // nothing more before the cutoff

  // A later cutoff takes d3 and e3, one batch at a time; d2 still waits and keeps e2.
  EXPECT_EQ(history.PruneBefore(1'000'000, 1), 1);
  EXPECT_FALSE(history.GetDelivery("t", d3.delivery_ids[0]));
  EXPECT_TRUE(history.GetDelivery("t", d2.delivery_ids[0]));
  EXPECT_EQ(count("SELECT count(*) FROM events"), 1);
  EXPECT_EQ(queue.Stats().pending, 1);
}

TYPED_TEST(StoreConformance, LeaseRecordAndExpiredLeasesComeBack) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  Webhook w = this->MakeWebhook("t", {"device.enroll"});
  config.CreateWebhook(w, this->Audit("t", w.id));
  auto ingest = queue.IngestEvent(Event{"e1", "device.enroll", "t", 100, Json{{"n", 1}}}, 100);
  ASSERT_EQ(ingest.delivery_ids.size(), 1u);
  auto tasks = queue.LeaseDue(100, 10, 30100, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].url, w.url);
  EXPECT_EQ(tasks[0].secrets, std::vector<std::string>{*w.secret});
  EXPECT_EQ(Json::parse(tasks[0].data_json)["n"], 1);
  EXPECT_TRUE(queue.LeaseDue(200, 10, 30200, {}).empty());  // leased: not handed out twice
  auto again = queue.LeaseDue(30100, 10, 60100, {});        // lease expired (crash): comes back
  ASSERT_EQ(again.size(), 1u);

  EXPECT_NE(again[0].lease_id, tasks[0].lease_id);
  AttemptOutcome o;
  o.lease_id = tasks[0].lease_id;  // the first lease: expired, and taken again since
  o.attempt.id = "att_1";
  o.attempt.delivery_id = again[0].delivery.id;
  o.attempt.number = 1;
  o.attempt.started_at = 30200;
  o.attempt.duration_ms = 12;
  o.attempt.http_status = 500;
  o.attempt.cause = FailureCause::kHttpStatus;
  o.attempt.request_headers = {{"webhook-id", "e1"}};
  o.attempt.response_excerpt = "oops";
  o.status = DeliveryStatus::kFailed;
  o.next_attempt_at = 35200;
  EXPECT_EQ(queue.RecordAttempt(o), RecordResult::kLeaseLost) << "fenced: nothing written";
  EXPECT_TRUE(history.GetDelivery("t", again[0].delivery.id)->attempts.empty());
  o.lease_id = again[0].lease_id;
  EXPECT_EQ(queue.RecordAttempt(o), RecordResult::kRecorded);
  auto d = history.GetDelivery("t", again[0].delivery.id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, DeliveryStatus::kFailed);
  EXPECT_EQ(d->attempt_count, 1);
  EXPECT_EQ(d->next_attempt_at, 35200);
  ASSERT_EQ(d->attempts.size(), 1u);
  EXPECT_EQ(d->attempts[0].http_status, 500);
  EXPECT_EQ(d->attempts[0].response_excerpt, "oops");
  EXPECT_EQ(d->attempts[0].request_headers, (Headers{{"webhook-id", "e1"}}));
  // The event as stored, for the API to show what was sent: its data text is what the lease
  // handed the engine, byte for byte.
  EXPECT_EQ(d->event_timestamp, 100);
  EXPECT_EQ(d->event_data, tasks[0].data_json);
  EXPECT_TRUE(queue.LeaseDue(35199, 10, 40000, {}).empty());
  EXPECT_EQ(queue.LeaseDue(35200, 10, 40000, {}).size(), 1u);
  EXPECT_FALSE(history.GetDelivery("other-team", again[0].delivery.id));
}

TYPED_TEST(StoreConformance, RotationKeepsThePreviousSecretUntilItsDeadline) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  Webhook w = this->MakeWebhook("t", {"device.enroll"});
  config.CreateWebhook(w, this->Audit("t", w.id));
  ASSERT_TRUE(config.RotateSecret("t", w.id, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", 5000,
                                  this->Audit("t", w.id)));
  queue.IngestEvent(Event{"e1", "device.enroll", "t", 100, Json::object()}, 100);
  auto tasks = queue.LeaseDue(4000, 10, 4500, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].secrets,
            (std::vector<std::string>{"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", *w.secret}));
  auto later =
      queue.LeaseDue(6000, 10, 7000, {});  // lease expired at 4500; old secret expired at 5000
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].secrets.size(), 1u);
}

// Rotations in a row: each rotated-out secret signs until its own expiry, newest first after
// the current one (a second rotation used to end the first one's grace period at once).
TYPED_TEST(StoreConformance, EveryRotatedOutSecretSignsUntilItsOwnExpiry) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  Webhook w = this->MakeWebhook("t", {"device.enroll"});
  config.CreateWebhook(w, this->Audit("t", w.id));
  const std::vector<std::string> fresh = {"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                          "whsec_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB",
                                          "whsec_CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC"};
  ConfigStore::Rotation last;
  for (int i = 0; i < 3; ++i) {  // at 1000, 2000, 3000; the rotated-out one valid 10 s each
    last = config.RotateSecret("t", w.id, fresh[i], (i + 1) * 10000,
                               this->Audit("t", w.id, (i + 1) * 1000));
    ASSERT_TRUE(last);
  }
  EXPECT_EQ(last.previous_valid_until, (std::vector<int64_t>{30000, 20000, 10000}));
  EXPECT_EQ(config.GetWebhook("t", w.id)->secret, fresh[2]);
  const auto secrets_at = [&](int64_t now) {
    // A lease ending before the next look, so every look leases the delivery again.
    auto tasks = queue.LeaseDue(now, 10, now + 1000, {});
    EXPECT_EQ(tasks.size(), 1u) << now;
    return tasks.empty() ? std::vector<std::string>{} : tasks[0].secrets;
  };
  queue.IngestEvent(Event{"e1", "device.enroll", "t", 100, Json::object()}, 3000);
  EXPECT_EQ(secrets_at(5000), (std::vector<std::string>{fresh[2], fresh[1], fresh[0], *w.secret}));
  EXPECT_EQ(secrets_at(15000), (std::vector<std::string>{fresh[2], fresh[1], fresh[0]}));
  EXPECT_EQ(secrets_at(25000), (std::vector<std::string>{fresh[2], fresh[1]}));
  EXPECT_EQ(secrets_at(35000), (std::vector<std::string>{fresh[2]}));
  // A rotation drops what has expired: only the one it rotates out is left.
  const ConfigStore::Rotation again =
      config.RotateSecret("t", w.id, *w.secret, 90000, this->Audit("t", w.id, 40000));
  EXPECT_EQ(again.previous_valid_until, (std::vector<int64_t>{90000}));
}

TYPED_TEST(StoreConformance, RotationsStopAtTheBoundAndAPatchedSecretEndsThemAll) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  Webhook w = this->MakeWebhook("t", {"device.enroll"});
  config.CreateWebhook(w, this->Audit("t", w.id));
  std::string current;
  for (size_t i = 0; i < ConfigStore::kMaxPreviousSecrets; ++i) {
    current = "whsec_" + std::string(31, 'A') + std::to_string(i);
    ASSERT_TRUE(config.RotateSecret("t", w.id, current, 100000, this->Audit("t", w.id, 2000)));
  }
  const ConfigStore::Rotation refused = config.RotateSecret(
      "t", w.id, "whsec_" + std::string(32, 'Z'), 100000, this->Audit("t", w.id, 3000));
  EXPECT_EQ(refused.status, ConfigStore::Rotation::Status::kTooMany);
  EXPECT_EQ(config.GetWebhook("t", w.id)->secret, current) << "nothing written";
  EXPECT_EQ(config.RotateSecret("nobody", w.id, current, 1, this->Audit("nobody", w.id)).status,
            ConfigStore::Rotation::Status::kNotFound);
  queue.IngestEvent(Event{"e1", "device.enroll", "t", 100, Json::object()}, 3000);
  auto tasks = queue.LeaseDue(4000, 10, 5000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].secrets.size(), ConfigStore::kMaxPreviousSecrets + 1);
  // A secret set by PATCH replaces every one at once (no grace period).
  Webhook patched = *config.GetWebhook("t", w.id);
  patched.secret = "whsec_" + std::string(32, 'P');
  patched.updated_at = 6000;
  ASSERT_TRUE(config.UpdateWebhook(patched, true, this->Audit("t", w.id, 6000)));
  tasks = queue.LeaseDue(6000, 10, 7000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].secrets, std::vector<std::string>{*patched.secret});
  EXPECT_TRUE(config.RotateSecret("t", w.id, current, 100000, this->Audit("t", w.id, 8000)))
      << "the bound counts the secrets still signing";
}

TYPED_TEST(StoreConformance, DeletingAWebhookDropsItsDeliveries) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  Webhook w = this->MakeWebhook("t", {"device.enroll"});
  Webhook kept = this->MakeWebhook("t", {"device.enroll"});
  config.CreateWebhook(w, this->Audit("t", w.id));
  config.CreateWebhook(kept, this->Audit("t", kept.id));
  queue.IngestEvent(Event{"e1", "device.enroll", "t", 100, Json::object()}, 100);
  // An attempt each (failed: both deliveries stay queued), and one more delivery waiting.
  for (const DeliveryTask& t : queue.LeaseDue(100, 10, 5000, {})) {
    ASSERT_EQ(queue.RecordAttempt(Outcome(t, 200, DeliveryStatus::kFailed, 500)),
              RecordResult::kRecorded);
  }
  queue.IngestEvent(Event{"e2", "device.enroll", "t", 300, Json::object()}, 300);
  auto count = [&](const char* sql) { return this->backend_.Count(sql); };
  ASSERT_EQ(count("SELECT count(*) FROM attempts"), 2);
  EXPECT_FALSE(config.DeleteWebhook("other", w.id, this->Audit("other", w.id)));
  EXPECT_TRUE(config.DeleteWebhook("t", w.id, this->Audit("t", w.id)));
  EXPECT_EQ(count("SELECT count(*) FROM attempts"), 1) << "the kept webhook's";
  EXPECT_EQ(count("SELECT count(*) FROM deliveries"), 2) << "the kept webhook's";
  const auto left = queue.LeaseDue(1'000'000'000, 10, 2'000'000'000, {});
  EXPECT_EQ(left.size(), 2u);
  for (const DeliveryTask& t : left) EXPECT_EQ(t.delivery.webhook_id, kept.id);
}

// Expired leases go back to the queue; live ones stay with their holder.
TYPED_TEST(StoreConformance, OnlyExpiredLeasesAreReclaimed) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  const Webhook w = this->MakeWebhook("t");
  config.CreateWebhook(w, this->Audit("t", w.id));
  queue.IngestEvent(Event{"early", "device.enroll", "t", 1, Json::object()}, 100);
  queue.IngestEvent(Event{"late", "device.enroll", "t", 1, Json::object()}, 200);
  ASSERT_EQ(queue.LeaseDue(100, 1, 1000, {}).size(), 1u);  // "early", until 1000
  ASSERT_EQ(queue.LeaseDue(200, 1, 5000, {}).size(), 1u);  // "late", until 5000
  EXPECT_EQ(queue.ReclaimExpiredLeases(999), 0);
  // (After a committed write: SQLite answers a lease before its commit, which Stats, a reader,
  // may not see yet.)
  EXPECT_EQ(queue.Stats().in_flight, 2);
  EXPECT_EQ(queue.ReclaimExpiredLeases(2000), 1);
  const QueueStats stats = queue.Stats();
  EXPECT_EQ(stats.in_flight, 1);
  EXPECT_EQ(stats.pending, 1);
  auto again = queue.LeaseDue(2000, 10, 9000, {});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].event.id, "early");
}

// What the delivery log shows: every field of an attempt, whatever bytes the receiver sent
// (NUL included, which a text column cannot hold), headers with their truncation mark.
TYPED_TEST(StoreConformance, AnAttemptIsShownAsRecorded) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  const Webhook w = this->MakeWebhook("t");
  config.CreateWebhook(w, this->Audit("t", w.id));
  queue.IngestEvent(Event{"e1", "device.enroll", "t", 100, Json{{"k", "v"}}}, 100);
  auto tasks = queue.LeaseDue(100, 10, 5000, {});
  ASSERT_EQ(tasks.size(), 1u);
  AttemptOutcome o = Outcome(tasks[0], 200, DeliveryStatus::kFailed, 503);
  // Quotes, backslashes, braces, commas and "NULL" as text: what an array literal must escape
  // (the PostgreSQL store sends a batch of attempts as arrays).
  o.attempt.error = "Service \"Unavailable\" \\ {a,b} NULL";
  o.attempt.request_headers = {{"webhook-id", "e1"}, {"content-type", "application/json"}};
  o.attempt.response_headers = {{"retry-after", "5"}, {"x-ünïcode", "välue \"\\"}};
  o.attempt.response_headers_truncated = true;
  o.attempt.response_excerpt = std::string("busy\0now \xe2\x9c\x93", 12);
  for (int b = 0; b < 256; ++b) o.attempt.response_excerpt += static_cast<char>(b);
  o.attempt.response_truncated = true;
  ASSERT_EQ(queue.RecordAttempt(o), RecordResult::kRecorded);
  auto d = history.GetDelivery("t", tasks[0].delivery.id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, DeliveryStatus::kFailed);
  EXPECT_EQ(d->attempt_count, 1);
  EXPECT_EQ(d->next_attempt_at, 1200);
  EXPECT_EQ(d->last_http_status, 503);
  EXPECT_EQ(d->last_cause, FailureCause::kHttpStatus);
  EXPECT_EQ(d->event_id, "e1");
  EXPECT_EQ(d->event_type, "device.enroll");
  ASSERT_EQ(d->attempts.size(), 1u);
  const DeliveryAttempt& a = d->attempts[0];
  EXPECT_EQ(a.id, o.attempt.id);
  EXPECT_EQ(a.number, 1);
  EXPECT_EQ(a.started_at, 200);
  EXPECT_EQ(a.duration_ms, 5);
  EXPECT_EQ(a.http_status, 503);
  EXPECT_EQ(a.cause, FailureCause::kHttpStatus);
  EXPECT_EQ(a.error, o.attempt.error);
  EXPECT_EQ(a.request_headers, o.attempt.request_headers);
  EXPECT_EQ(a.response_headers, o.attempt.response_headers);
  EXPECT_TRUE(a.response_headers_truncated);
  EXPECT_EQ(a.response_excerpt, o.attempt.response_excerpt);
  EXPECT_TRUE(a.response_truncated);
  EXPECT_FALSE(history.GetDelivery("other", tasks[0].delivery.id)) << "team scoped";
}

// A 410 disables the webhook with the reason, audited by "system", in the attempt's
// transaction; a success is remembered for auto-disable.
TYPED_TEST(StoreConformance, A410DisablesTheWebhookAndOnlyFailingOnesAreCandidates) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  const Webhook gone = this->MakeWebhook("t", {"device.enroll"});
  const Webhook failing = this->MakeWebhook("t", {"team.update"});
  const Webhook fine = this->MakeWebhook("t", {"user.create"});
  for (const Webhook* w : {&gone, &failing, &fine})
    config.CreateWebhook(*w, this->Audit("t", w->id));
  queue.IngestEvent(Event{"g", "device.enroll", "t", 1, Json::object()}, 2000);
  queue.IngestEvent(Event{"f", "team.update", "t", 1, Json::object()}, 2000);
  queue.IngestEvent(Event{"s", "user.create", "t", 1, Json::object()}, 2000);
  auto tasks = queue.LeaseDue(2000, 10, 9000, {});
  ASSERT_EQ(tasks.size(), 3u);
  for (const DeliveryTask& t : tasks) {
    AttemptOutcome o;
    if (t.delivery.webhook_id == gone.id) {
      o = Outcome(t, 3000, DeliveryStatus::kExhausted, 410);
      o.disable_reason = "The endpoint answered 410 Gone";
    } else if (t.delivery.webhook_id == failing.id) {
      o = Outcome(t, 3000, DeliveryStatus::kExhausted, 500);
    } else {
      o = Outcome(t, 3000, DeliveryStatus::kSucceeded, 200);
    }
    ASSERT_EQ(queue.RecordAttempt(o), RecordResult::kRecorded);
  }
  auto after = config.GetWebhook("t", gone.id);
  EXPECT_FALSE(after->active);
  EXPECT_EQ(after->disabled_reason, "The endpoint answered 410 Gone");
  const AuditEntry last = config.ListAudit("t", 1, "").items.at(0);
  EXPECT_EQ(last.action, "webhook.disable");
  EXPECT_EQ(last.actor, "system");
  EXPECT_EQ(last.target_id, gone.id);
  // Only the active webhook with no success since then and an exhausted delivery.
  const std::vector<Webhook> candidates = history.FailingWebhooks(4000);
  ASSERT_EQ(candidates.size(), 1u);
  EXPECT_EQ(candidates[0].id, failing.id);
  EXPECT_EQ(*candidates[0].secret, "") << "no secret value in a candidate";
  EXPECT_TRUE(history.FailingWebhooks(500).empty()) << "created after the cutoff";
}

// Re-enabling sticks: the auto-disable window starts again when a webhook is switched on, so
// the exhausted deliveries from before do not disable it at the next check.
TYPED_TEST(StoreConformance, AReenabledWebhookIsNoCandidateUntilItFailsAgain) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  const Webhook w = this->Create("t", {"team.update"});
  const auto exhaust = [&](const std::string& event, int64_t at) {
    queue.IngestEvent(Event{event, "team.update", "t", at, Json::object()}, at);
    auto tasks = queue.LeaseDue(at, 10, at + 500, {});
    ASSERT_EQ(tasks.size(), 1u);
    ASSERT_EQ(queue.RecordAttempt(Outcome(tasks[0], at, DeliveryStatus::kExhausted, 500)),
              RecordResult::kRecorded);
  };
  exhaust("e1", 3000);
  ASSERT_EQ(history.FailingWebhooks(4000).size(), 1u);
  ASSERT_TRUE(config.DisableWebhook("t", w.id, "failing", this->Audit("t", w.id, 4000)));
  Webhook enabled = *config.GetWebhook("t", w.id);
  enabled.active = true;
  enabled.disabled_reason.reset();
  enabled.updated_at = 5000;
  ASSERT_TRUE(config.UpdateWebhook(enabled, false, this->Audit("t", w.id, 5000)));
  EXPECT_TRUE(history.FailingWebhooks(4900).empty()) << "the window starts at the re-enable";
  EXPECT_TRUE(history.FailingWebhooks(60000).empty()) << "nothing exhausted since";
  // An update that leaves it on does not move the window.
  enabled.description = "changed";
  enabled.updated_at = 6000;
  ASSERT_TRUE(config.UpdateWebhook(enabled, false, this->Audit("t", w.id, 6000)));
  exhaust("e2", 7000);
  EXPECT_TRUE(history.FailingWebhooks(5000).empty()) << "not failing for the whole window yet";
  const std::vector<Webhook> candidates = history.FailingWebhooks(5500);
  ASSERT_EQ(candidates.size(), 1u) << "failing since the re-enable at 5000";
  EXPECT_EQ(candidates[0].id, w.id);
}

// Notices are queued to exactly the webhooks named, once per event id.
TYPED_TEST(StoreConformance, QueueToWebhooksQueuesExactlyTheNamedOnesOnce) {
  QueueStore& queue = this->queue();
  const Webhook a = this->Create("t", {"webhook.disabled"});
  const Webhook b = this->Create("t", {"webhook.disabled"});
  const Event notice{"ntcd_x_1", "webhook.disabled", "t", 100, Json{{"reason", "gone"}}};
  const IngestResult first = queue.QueueToWebhooks(notice, {b.id}, 100);
  EXPECT_TRUE(first.created);
  ASSERT_EQ(first.delivery_ids.size(), 1u);
  const IngestResult again = queue.QueueToWebhooks(notice, {a.id, b.id}, 200);
  EXPECT_FALSE(again.created) << "made twice, queued once";
  EXPECT_TRUE(again.delivery_ids.empty());
  auto tasks = queue.LeaseDue(300, 10, 1000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].delivery.webhook_id, b.id);
  EXPECT_EQ(tasks[0].data_json, R"({"reason":"gone"})");
  EXPECT_TRUE(
      queue.QueueToWebhooks(Event{"ntcd_x_2", "webhook.disabled", "t", 1, {}}, {}, 1).created)
      << "with no subscriber the notice is still in the event log";
}

// What the notices job asks: failing (not yet announced), disabled by webhookd (not yet
// announced), recovered (announced, then a success).
TYPED_TEST(StoreConformance, NoticeCandidatesFollowAWebhooksHealth) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  using Kind = HistoryStore::NoticeCandidate::Kind;
  const Webhook w = this->Create("t", {"team.update"});
  const auto attempt = [&](const std::string& event, int64_t at, DeliveryStatus status) {
    queue.IngestEvent(Event{event, "team.update", "t", at, Json::object()}, at);
    auto tasks = queue.LeaseDue(at, 10, at + 500, {});
    ASSERT_EQ(tasks.size(), 1u);
    ASSERT_EQ(queue.RecordAttempt(
                  Outcome(tasks[0], at, status, status == DeliveryStatus::kSucceeded ? 200 : 500)),
              RecordResult::kRecorded);
  };
  EXPECT_TRUE(history.NoticeCandidates(5000).empty()) << "nothing failed";
  attempt("e1", 3000, DeliveryStatus::kExhausted);
  EXPECT_TRUE(history.NoticeCandidates(900).empty()) << "failing since 1000, not before 900";
  auto due = history.NoticeCandidates(5000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, Kind::kFailing);
  EXPECT_EQ(due[0].webhook.id, w.id);
  EXPECT_EQ(due[0].since, 1000) << "created at 1000, never a success";
  history.SetNoticeState(w.id, std::string("failing"), 5000);
  EXPECT_TRUE(history.NoticeCandidates(6000).empty()) << "announced";
  ASSERT_TRUE(config.DisableWebhook("t", w.id, "failing for days", this->Audit("t", w.id, 7000)));
  due = history.NoticeCandidates(8000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, Kind::kDisabled);
  EXPECT_EQ(due[0].since, 7000);
  EXPECT_EQ(due[0].webhook.disabled_reason, "failing for days");
  history.SetNoticeState(w.id, std::string("disabled"), 8000);
  EXPECT_TRUE(history.NoticeCandidates(9000).empty());
  Webhook on = *config.GetWebhook("t", w.id);
  on.active = true;
  on.disabled_reason.reset();
  on.updated_at = 9000;
  ASSERT_TRUE(config.UpdateWebhook(on, false, this->Audit("t", w.id, 9000)));
  EXPECT_TRUE(history.NoticeCandidates(9500).empty()) << "on again, but no success yet";
  attempt("e2", 10000, DeliveryStatus::kSucceeded);
  due = history.NoticeCandidates(10500);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, Kind::kRecovered);
  EXPECT_EQ(due[0].since, 8000);
  EXPECT_GE(due[0].at, 10000);
  history.SetNoticeState(w.id, std::nullopt, 10500);
  EXPECT_TRUE(history.NoticeCandidates(10500).empty());
}

// The delivery log of a webhook: newest first, paged, filtered by status and event type.
TYPED_TEST(StoreConformance, DeliveriesListNewestFirstWithFilters) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  const Webhook w = this->MakeWebhook("t", {"device.enroll", "device.wipe"});
  config.CreateWebhook(w, this->Audit("t", w.id));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    const std::string type = i % 2 == 0 ? "device.enroll" : "device.wipe";
    ids.push_back(
        queue.IngestEvent(Event{"e" + std::to_string(i), type, "t", 1, Json::object()}, 100 + i)
            .delivery_ids.at(0));
  }
  auto tasks = queue.LeaseDue(1000, 1, 5000, {});  // e0, the oldest
  ASSERT_EQ(tasks.size(), 1u);
  ASSERT_EQ(queue.RecordAttempt(Outcome(tasks[0], 1100, DeliveryStatus::kSucceeded, 200)),
            RecordResult::kRecorded);
  std::vector<std::string> seen;
  std::string cursor;
  do {
    Page<Delivery> page = history.ListDeliveries("t", w.id, {}, 2, cursor);
    for (const Delivery& d : page.items) seen.push_back(d.id);
    cursor = page.next_cursor.value_or("");
  } while (!cursor.empty());
  EXPECT_EQ(seen, (std::vector<std::string>{ids[4], ids[3], ids[2], ids[1], ids[0]}));
  DeliveryFilter succeeded;
  succeeded.status = DeliveryStatus::kSucceeded;
  auto only = history.ListDeliveries("t", w.id, succeeded, 10, "");
  ASSERT_EQ(only.items.size(), 1u);
  EXPECT_EQ(only.items[0].id, ids[0]);
  DeliveryFilter wipes;
  wipes.event_type = "device.wipe";
  EXPECT_EQ(history.ListDeliveries("t", w.id, wipes, 10, "").items.size(), 2u);
  EXPECT_TRUE(history.ListDeliveries("other", w.id, {}, 10, "").items.empty());
}

// Statistics are added to as attempts are recorded, by hour and duration, through both the
// waiting and the group-committed path; a fenced attempt adds nothing; another team's webhook is
// left out; pruning drops old hours and deleting the webhook drops them all.
TYPED_TEST(StoreConformance, AttemptStatsAreKeptByHourAsAttemptsAreRecorded) {
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  const Webhook w = this->Create("t");
  const Webhook theirs = this->Create("u");
  const int64_t h0 = 10 * kHourMs;
  for (int i = 0; i < 6; ++i) {
    queue.IngestEvent(Event{"e" + std::to_string(i), "device.enroll", "t", 1, Json::object()},
                      h0 + i);
  }
  queue.IngestEvent(Event{"x", "device.enroll", "u", 1, Json::object()}, h0);
  std::vector<DeliveryTask> tasks = queue.LeaseDue(h0 + 10, 10, h0 + 5 * kHourMs, {});
  ASSERT_EQ(tasks.size(), 7u);
  std::vector<DeliveryTask> mine;
  for (const DeliveryTask& t : tasks) {
    if (t.delivery.webhook_id == w.id) mine.push_back(t);
  }
  ASSERT_EQ(mine.size(), 6u);
  // Hour 0: 5, 50 and 500 ms succeeded, 5000 ms failed; hour 1: two of 40 ms succeeded.
  const int64_t durations[] = {5, 50, 500, 5000, 40, 40};
  std::vector<std::future<RecordResult>> recorded;
  for (size_t i = 0; i < mine.size(); ++i) {
    const int64_t at = i < 4 ? h0 + 100 : h0 + kHourMs + 100;
    AttemptOutcome o =
        Outcome(mine[i], at, i == 3 ? DeliveryStatus::kFailed : DeliveryStatus::kSucceeded,
                i == 3 ? 500 : 200);
    o.attempt.duration_ms = durations[i];
    if (i % 2 == 0) {
      ASSERT_EQ(queue.RecordAttempt(o), RecordResult::kRecorded);
      continue;
    }
    auto done = std::make_shared<std::promise<RecordResult>>();
    recorded.push_back(done->get_future());
    queue.RecordAttemptAsync(o,
                             [done](const AttemptOutcome&, RecordResult r) { done->set_value(r); });
  }
  for (auto& r : recorded) ASSERT_EQ(r.get(), RecordResult::kRecorded);
  AttemptOutcome stale = Outcome(mine[0], h0 + 200, DeliveryStatus::kSucceeded, 200);
  ASSERT_EQ(queue.RecordAttempt(stale), RecordResult::kLeaseLost);

  StatsByWebhook stats = history.AttemptStats("t", {w.id, theirs.id}, h0);
  ASSERT_EQ(stats.size(), 1u) << "the other team's webhook is left out";
  const std::vector<HourStats>& hours = stats.at(w.id);
  ASSERT_EQ(hours.size(), 2u);
  EXPECT_EQ(hours[0].hour, h0);
  EXPECT_EQ(hours[0].succeeded, 3);
  EXPECT_EQ(hours[0].failed, 1);
  EXPECT_EQ(hours[1].hour, h0 + kHourMs);
  EXPECT_EQ(hours[1].succeeded, 2);
  EXPECT_EQ(hours[1].failed, 0);
  const StatsSummary first = Summarize(hours[0]);
  ASSERT_TRUE(first.p50_ms && first.p95_ms);
  EXPECT_GE(*first.p50_ms, 50);  // the 2nd of 4
  EXPECT_LE(*first.p50_ms, 55);
  EXPECT_GE(*first.p95_ms, 5000);  // the 4th of 4
  EXPECT_LE(*first.p95_ms, 5500);
  EXPECT_EQ(Summarize(hours[1]).p50_ms, Summarize(hours[1]).p95_ms);
  ASSERT_EQ(history.AttemptStats("t", {w.id}, h0 + kHourMs).at(w.id).size(), 1u);
  EXPECT_TRUE(history.AttemptStats("u", {w.id}, 0).empty());

  DeliveryFilter hour1;
  hour1.attempted_since = h0 + kHourMs;
  hour1.attempted_until = h0 + 2 * kHourMs;
  const Page<Delivery> in_hour1 = history.ListDeliveries("t", w.id, hour1, 10, "");
  std::set<std::string> ids;
  for (const Delivery& d : in_hour1.items) ids.insert(d.id);
  EXPECT_EQ(ids, (std::set<std::string>{mine[4].delivery.id, mine[5].delivery.id}));

  const auto last = history.LastDeliveries("t", {w.id, theirs.id, "wh_none"});
  ASSERT_EQ(last.size(), 1u) << "neither the other team's nor a missing webhook";
  EXPECT_EQ(last.at(w.id).event_id, "e5");
  EXPECT_EQ(last.at(w.id).status, DeliveryStatus::kSucceeded);

  history.PruneStats(h0 + kHourMs);
  ASSERT_EQ(history.AttemptStats("t", {w.id}, 0).at(w.id).size(), 1u) << "hour 0 pruned";
  ASSERT_TRUE(this->config().DeleteWebhook("t", w.id, this->Audit("t", w.id)));
  EXPECT_TRUE(history.AttemptStats("t", {w.id}, 0).empty());
}

TEST(LatencyBuckets, AreAtMostTenPercentOrOneMillisecondWide) {
  for (int64_t ms = 0; ms <= 2 * kHourMs; ms += ms < 1000 ? 1 : 997) {
    const int64_t upper = LatencyUpperMs(LatencyBucket(ms));
    if (ms > kHourMs) continue;  // the last bucket has no upper bound
    EXPECT_GE(upper, ms);
    EXPECT_LE(upper, std::max(ms + 1, ms + ms / 10)) << ms;
  }
  EXPECT_EQ(LatencyPercentile({}, 0.5), std::nullopt);
}

// Resend makes any delivery but one in flight due now; recover brings back the failed and
// exhausted ones of a webhook since a moment; a test event goes even to a disabled webhook.
TYPED_TEST(StoreConformance, ResendRecoverAndTestDeliveries) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  const Webhook w = this->MakeWebhook("t");
  config.CreateWebhook(w, this->Audit("t", w.id));
  const std::string d1 =
      queue.IngestEvent(Event{"e1", "device.enroll", "t", 1, Json::object()}, 100).delivery_ids[0];
  auto tasks = queue.LeaseDue(100, 10, 5000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_FALSE(queue.ResendDelivery("t", d1, 200)) << "in flight: its attempt is under way";
  ASSERT_EQ(queue.RecordAttempt(Outcome(tasks[0], 300, DeliveryStatus::kExhausted, 500)),
            RecordResult::kRecorded);
  EXPECT_FALSE(queue.ResendDelivery("other", d1, 400));
  EXPECT_TRUE(queue.ResendDelivery("t", d1, 400));
  EXPECT_EQ(history.GetDelivery("t", d1)->status, DeliveryStatus::kFailed);  // tried before
  tasks = queue.LeaseDue(400, 10, 5000, {});
  ASSERT_EQ(tasks.size(), 1u);
  ASSERT_EQ(queue.RecordAttempt(Outcome(tasks[0], 500, DeliveryStatus::kExhausted, 500)),
            RecordResult::kRecorded);
  EXPECT_EQ(queue.RecoverDeliveries("t", w.id, 200, 600), 0) << "created before `since`";
  EXPECT_EQ(queue.RecoverDeliveries("t", w.id, 0, 600), 1);
  EXPECT_EQ(queue.LeaseDue(600, 10, 5000, {}).size(), 1u);

  ASSERT_TRUE(config.DisableWebhook("t", w.id, "off", this->Audit("t", w.id)));
  queue.IngestEvent(Event{"e2", "device.enroll", "t", 1, Json::object()}, 700);  // none: inactive
  const std::string test = queue.QueueSingleDelivery(
      Event{"t1", "webhook.test", "t", 1, Json{{"test", true}}}, w.id, 800);
  EXPECT_THROW(
      queue.QueueSingleDelivery(Event{"t1", "webhook.test", "t", 1, Json::object()}, w.id, 800),
      StoreError)
      << "a repeated event id";
  EXPECT_EQ(queue.NextDueAt({}), 800);
  auto leased = queue.LeaseDue(900, 10, 5000, {});
  ASSERT_EQ(leased.size(), 1u) << "only the test delivery goes to a disabled webhook";
  EXPECT_EQ(leased[0].delivery.id, test);
  EXPECT_FALSE(leased[0].webhook_active);
  EXPECT_EQ(Json::parse(leased[0].data_json)["test"], true);
}

// A webhook's rate limit is stored, changed, cleared, and handed to the engine with each task.
TYPED_TEST(StoreConformance, RateLimitTravelsWithTheWebhookAndItsTasks) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  Webhook w = this->MakeWebhook("t");
  w.rate_limit_per_second = 5;
  config.CreateWebhook(w, this->Audit("t", w.id));
  EXPECT_EQ(config.GetWebhook("t", w.id)->rate_limit_per_second, 5);
  queue.IngestEvent(Event{"e1", "device.enroll", "t", 1, Json::object()}, 100);
  auto tasks = queue.LeaseDue(100, 10, 5000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].rate_limit_per_second, 5);
  w.rate_limit_per_second.reset();
  ASSERT_TRUE(config.UpdateWebhook(w, false, this->Audit("t", w.id)));
  EXPECT_EQ(config.GetWebhook("t", w.id)->rate_limit_per_second, std::nullopt);
  EXPECT_EQ(config.ListWebhooks("t", 10, "").items[0].rate_limit_per_second, std::nullopt);
  queue.IngestEvent(Event{"e2", "device.enroll", "t", 1, Json::object()}, 200);
  tasks = queue.LeaseDue(200, 10, 5000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].rate_limit_per_second, std::nullopt);
}

// Custom headers are sealed at rest (no value readable in the row), come back in order with
// every read, lists too, change and clear with the webhook, and travel with each task.
TYPED_TEST(StoreConformance, CustomHeadersAreSealedAndTravelWithTheTasks) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  Webhook w = this->MakeWebhook("t");
  w.headers = {{"X-Api-Key", "key-plaintext-1"}, {"Authorization", "Bearer plaintext-2"}};
  ASSERT_TRUE(config.CreateWebhook(w, this->Audit("t", w.id)));
  const std::string raw = this->backend_.Bytes("SELECT headers_enc FROM webhooks");
  EXPECT_GT(raw.size(), 16u);
  EXPECT_EQ(raw.find("plaintext"), std::string::npos) << "a header value is stored in clear";
  EXPECT_EQ(raw.find("X-Api-Key"), std::string::npos) << "header names are sealed with them";
  EXPECT_EQ(config.GetWebhook("t", w.id)->headers, w.headers);
  EXPECT_EQ(config.ListWebhooks("t", 10, "").items[0].headers, w.headers);
  queue.IngestEvent(Event{"e1", "device.enroll", "t", 1, Json::object()}, 100);
  auto tasks = queue.LeaseDue(100, 10, 5000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].headers, w.headers);

  w.headers = {{"X-Other", "v"}};
  ASSERT_TRUE(config.UpdateWebhook(w, false, this->Audit("t", w.id)));
  EXPECT_EQ(config.GetWebhook("t", w.id)->headers, w.headers);
  w.headers.clear();
  ASSERT_TRUE(config.UpdateWebhook(w, false, this->Audit("t", w.id)));
  EXPECT_EQ(config.GetWebhook("t", w.id)->headers, Headers{});
  EXPECT_EQ(this->backend_.Count("SELECT count(*) FROM webhooks WHERE headers_enc IS NULL"), 1);
  queue.IngestEvent(Event{"e2", "device.enroll", "t", 1, Json::object()}, 200);
  tasks = queue.LeaseDue(200, 10, 5000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].headers, Headers{});
}

// The team's event log: newest first, by type and time, a page at a time; one event with its
// data and its delivery to each webhook.
TYPED_TEST(StoreConformance, EventLogListsAndOpensATeamsEvents) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  const Webhook a = this->MakeWebhook("t", {"device.enroll", "team.update"});
  const Webhook b = this->MakeWebhook("t", {"device.enroll"});
  config.CreateWebhook(a, this->Audit("t", a.id));
  config.CreateWebhook(b, this->Audit("t", b.id));
  for (int i = 1; i <= 5; ++i) {
    const char* type = i % 2 == 0 ? "team.update" : "device.enroll";
    queue.IngestEvent(Event{"e" + std::to_string(i), type, "t", 1000 * i, Json{{"i", i}}},
                      1000 * i);
  }
  queue.IngestEvent(Event{"x1", "device.enroll", "other", 2500, Json::object()}, 2500);
  auto ids = [](const Page<Event>& page) {
    std::vector<std::string> out;
    for (const Event& e : page.items) out.push_back(e.id);
    return out;
  };
  const Page<Event> first = history.ListEvents("t", {}, 2, "");
  EXPECT_EQ(ids(first), (std::vector<std::string>{"e5", "e4"}));
  ASSERT_TRUE(first.next_cursor);
  EXPECT_EQ(first.items[0].type, "device.enroll");
  EXPECT_EQ(first.items[0].timestamp, 5000);
  EXPECT_TRUE(first.items[0].data.is_null()) << "a list carries no data";
  const Page<Event> second = history.ListEvents("t", {}, 2, *first.next_cursor);
  EXPECT_EQ(ids(second), (std::vector<std::string>{"e3", "e2"}));
  const Page<Event> last = history.ListEvents("t", {}, 2, *second.next_cursor);
  EXPECT_EQ(ids(last), (std::vector<std::string>{"e1"}));
  EXPECT_FALSE(last.next_cursor);
  EXPECT_EQ(ids(history.ListEvents("t", EventFilter{"team.update", {}, {}}, 10, "")),
            (std::vector<std::string>{"e4", "e2"}));
  EXPECT_EQ(ids(history.ListEvents("t", EventFilter{{}, 2000, 4000}, 10, "")),
            (std::vector<std::string>{"e3", "e2"}))
      << "since inclusive, until exclusive";
  EXPECT_EQ(ids(history.ListEvents("other", {}, 10, "")), (std::vector<std::string>{"x1"}));

  const auto e3 = history.GetEvent("t", "e3");
  ASSERT_TRUE(e3);
  EXPECT_EQ(e3->event.type, "device.enroll");
  EXPECT_EQ(e3->event.timestamp, 3000);
  EXPECT_EQ(e3->event.data, (Json{{"i", 3}}));
  ASSERT_EQ(e3->deliveries.size(), 2u) << "one per subscribed webhook";
  std::set<std::string> to;
  for (const Delivery& d : e3->deliveries) {
    to.insert(d.webhook_id);
    EXPECT_EQ(d.event_id, "e3");
    EXPECT_EQ(d.status, DeliveryStatus::kPending);
  }
  EXPECT_EQ(to, (std::set<std::string>{a.id, b.id}));
  EXPECT_EQ(history.GetEvent("t", "e4")->deliveries.size(), 1u);
  EXPECT_FALSE(history.GetEvent("other", "e3")) << "another team's event is not found";
  EXPECT_FALSE(history.GetEvent("t", "nope"));
}

// Cancel: a waiting delivery (pending, or failed with a retry due) is never leased again; one in
// flight or already ended is left alone; cancel-pending takes a webhook's whole backlog.
TYPED_TEST(StoreConformance, CancelledDeliveriesAreNeverSentAgain) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  HistoryStore& history = this->history();
  using Cancel = QueueStore::CancelResult;
  const Webhook w = this->MakeWebhook("t");
  const Webhook other = this->MakeWebhook("t");
  config.CreateWebhook(w, this->Audit("t", w.id));
  config.CreateWebhook(other, this->Audit("t", other.id));
  auto ingest = [&](const std::string& id, int64_t now) {
    return queue.IngestEvent(Event{id, "device.enroll", "t", 1, Json::object()}, now).delivery_ids;
  };
  const auto e1 = ingest("e1", 100);  // one delivery to each webhook
  ASSERT_EQ(e1.size(), 2u);
  const std::string d1 = history.GetDelivery("t", e1[0])->webhook_id == w.id ? e1[0] : e1[1];
  // A failed attempt with a retry due at 1200: cancelling it stops the retry.
  auto tasks = queue.LeaseDue(100, 10, 3000, {});
  ASSERT_EQ(tasks.size(), 2u);
  for (const auto& t : tasks) {
    ASSERT_EQ(queue.RecordAttempt(Outcome(t, 200, DeliveryStatus::kFailed, 500)),
              RecordResult::kRecorded);
  }
  EXPECT_EQ(queue.CancelDelivery("t", d1, 300), Cancel::kCancelled);
  const auto cancelled = history.GetDelivery("t", d1);
  EXPECT_EQ(cancelled->status, DeliveryStatus::kCancelled);
  EXPECT_EQ(cancelled->attempts.size(), 1u) << "the attempts made stay on record";
  EXPECT_EQ(cancelled->updated_at, 300);
  auto due = queue.LeaseDue(6000, 10, 9000, {});
  ASSERT_EQ(due.size(), 1u) << "only the other webhook's retry";
  EXPECT_NE(due[0].delivery.id, d1);
  EXPECT_EQ(queue.CancelDelivery("t", d1, 400), Cancel::kAlreadyFinal);
  EXPECT_EQ(queue.CancelDelivery("t", due[0].delivery.id, 6100), Cancel::kInFlight);
  EXPECT_EQ(queue.CancelDelivery("other-team", due[0].delivery.id, 6100), Cancel::kNotFound);
  EXPECT_EQ(queue.CancelDelivery("t", "dl_nope", 6100), Cancel::kNotFound);
  ASSERT_EQ(queue.RecordAttempt(Outcome(due[0], 6200, DeliveryStatus::kSucceeded, 200)),
            RecordResult::kRecorded);
  EXPECT_EQ(queue.CancelDelivery("t", due[0].delivery.id, 6300), Cancel::kAlreadyFinal);

  // A backlog: three waiting deliveries of `w`, one of them in flight, one of `other`.
  ingest("e2", 7000);
  ingest("e3", 7001);
  ingest("e4", 7002);
  const auto in_flight = queue.LeaseDue(7003, 1, 20000, {});
  ASSERT_EQ(in_flight.size(), 1u);
  const std::string& busy_webhook = in_flight[0].delivery.webhook_id;
  const int64_t expected = busy_webhook == w.id ? 2 : 3;
  EXPECT_EQ(queue.CancelPending("t", w.id, 7100), expected);
  EXPECT_EQ(queue.CancelPending("t", w.id, 7101), 0) << "nothing left to cancel";
  EXPECT_EQ(queue.CancelPending("other-team", other.id, 7101), 0);
  // Six deliveries of e2-e4: one in flight, `expected` cancelled, the rest still waiting.
  EXPECT_EQ(queue.Stats().pending, 5 - expected);
  EXPECT_EQ(queue.Stats().in_flight, 1);
  for (const auto& t : queue.LeaseDue(7200, 10, 20000, {})) {
    EXPECT_EQ(t.delivery.webhook_id, other.id) << "w's backlog is cancelled";
  }
  Page<Delivery> listed =
      history.ListDeliveries("t", w.id, DeliveryFilter{DeliveryStatus::kCancelled, {}}, 10, "");
  EXPECT_EQ(listed.items.size(), static_cast<size_t>(expected) + 1);

  // A resend still sends a cancelled delivery, on purpose; retention prunes them as ended.
  EXPECT_TRUE(queue.ResendDelivery("t", d1, 8000));
  EXPECT_EQ(history.GetDelivery("t", d1)->status, DeliveryStatus::kFailed);
  EXPECT_GE(history.PruneBefore(1'000'000, 100), expected);
  EXPECT_TRUE(
      history.ListDeliveries("t", w.id, DeliveryFilter{DeliveryStatus::kCancelled, {}}, 10, "")
          .items.empty());
}

// A stop gives back what it leased and did not start, by lease: a lease taken over since (it
// expired) stays with its new holder.
TYPED_TEST(StoreConformance, ReleasedLeasesAreDueNowUnlessTakenOver) {
  ConfigStore& config = this->config();
  QueueStore& queue = this->queue();
  const Webhook w = this->MakeWebhook("t");
  config.CreateWebhook(w, this->Audit("t", w.id));
  queue.IngestEvent(Event{"a", "device.enroll", "t", 1, Json::object()}, 100);
  queue.IngestEvent(Event{"b", "device.enroll", "t", 1, Json::object()}, 101);
  auto first = queue.LeaseDue(200, 10, 1000, {});
  ASSERT_EQ(first.size(), 2u);
  auto again = queue.LeaseDue(2000, 1, 9000, {});  // "a" expired and was taken again
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].event.id, "a");
  queue.ReleaseLeases(
      {{first[0].delivery.id, first[0].lease_id}, {first[1].delivery.id, first[1].lease_id}});
  auto now = queue.LeaseDue(2001, 10, 9000, {});
  ASSERT_EQ(now.size(), 1u) << "only b came back; a stays with its new lease";
  EXPECT_EQ(now[0].event.id, "b");
  EXPECT_EQ(now[0].delivery.attempt_count, 0);
  // NextDueAt skips the webhooks the engine says it cannot take more of.
  queue.IngestEvent(Event{"c", "device.enroll", "t", 1, Json::object()}, 3000);
  EXPECT_EQ(queue.NextDueAt({}), 3000);
  EXPECT_EQ(queue.NextDueAt({w.id}), 0);
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
