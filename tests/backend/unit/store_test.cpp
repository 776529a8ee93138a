// What is SQLites own in SqliteStore (migrations of old files, the write-ahead log, group
// commit), against a real database file in a temporary directory. What every backend must do is
// in tests/backend/store/conformance_test.cpp.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <thread>

#include "crypto/crypto.h"
#include "store/sqlite_store.h"
#include "support/store_fixtures.h"
#include "support/wait_until.h"

namespace mambo::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  StoreTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("mambo-store-" + crypto::Hex(crypto::RandomBytes(6)))) {}
  ~StoreTest() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<SqliteStore> Open() {
    return std::make_unique<SqliteStore>(dir_.string(), crypto::SecretBox(std::string(32, 'k')));
  }
  AuditEntry Audit(const std::string& team, const std::string& target) {
    return testing::TestAudit(team, target);
  }
  Webhook MakeWebhook(const std::string& team, std::vector<std::string> events,
                      bool active = true) {
    return testing::TestWebhook(team, std::move(events), active);
  }
  std::filesystem::path dir_;
};

TEST_F(StoreTest, MigratesOnceAndReopens) {
  {
    auto s = Open();
    s->CreateWebhook(MakeWebhook("t", {"device.enroll"}), Audit("t", "x"));
  }
  auto s = Open();  // second open: no migration runs again, data is there
  EXPECT_EQ(s->ListWebhooks("t", 10, "").items.size(), 1u);
}

// A database of schema version 1 (queue index on due_at alone, no response_headers_truncated) is
// migrated with its queue intact.
TEST_F(StoreTest, MigratesAVersion1QueueIndex) {
  Webhook w = MakeWebhook("t", {"device.enroll"});
  {
    auto s = Open();
    s->CreateWebhook(w, Audit("t", w.id));
    s->IngestEvent(Event{"e1", "device.enroll", "t", 1, Json::object()}, 100);
    ASSERT_TRUE(
        s->RotateSecret("t", w.id, "whsec_" + std::string(32, 'N'), 60000, Audit("t", w.id)));
  }
  {
    Db db((dir_ / "webhookd.db").string(), false);
    // Schema 8: a rotated-out secret lived in webhooks.prev_secret_enc (one at most).
    db.Exec(
        "UPDATE webhooks SET prev_secret_enc = (SELECT secret_enc FROM previous_secrets p "
        "WHERE p.webhook_id = webhooks.id)");
    db.Exec("DROP TABLE previous_secrets");
    db.Exec("ALTER TABLE webhooks DROP COLUMN reenabled_at");
    db.Exec("DROP TABLE attempt_stats");                       // schema 11
    db.Exec("ALTER TABLE webhooks DROP COLUMN notice_state");  // schema 10
    db.Exec("ALTER TABLE webhooks DROP COLUMN notice_at");
    db.Exec("DROP INDEX api_tokens_team");  // schema 9 (its role check stays: a superset)
    for (const char* column : {"description", "expires_at", "last_used_at"}) {
      db.Exec((std::string("ALTER TABLE api_tokens DROP COLUMN ") + column).c_str());
    }
    db.Exec("DROP INDEX deliveries_due");
    db.Exec(
        "CREATE INDEX deliveries_due ON deliveries(due_at) "
        "WHERE status IN ('pending', 'failed', 'in_flight')");
    db.Exec("ALTER TABLE attempts DROP COLUMN response_headers_truncated");  // schema 3
    db.Exec("ALTER TABLE deliveries DROP COLUMN lease_id");                  // schema 4
    db.Exec("DROP INDEX events_team");                                       // schema 5
    db.Exec("DROP INDEX events_team_type");
    db.Exec("ALTER TABLE webhooks DROP COLUMN rate_limit_per_second");  // schema 6
    db.Exec("ALTER TABLE webhooks DROP COLUMN headers_enc");            // schema 7
    db.Exec("PRAGMA user_version=1");
  }
  auto s = Open();
  {
    Db db((dir_ / "webhookd.db").string(), true);
    Query v(db, "PRAGMA user_version");
    ASSERT_TRUE(v.Step());
    EXPECT_EQ(v.Int(0), 11);
    Query cols(db, "SELECT count(*) FROM pragma_index_info('deliveries_due')");
    ASSERT_TRUE(cols.Step());
    EXPECT_EQ(cols.Int(0), 2);  // due_at, webhook_id
    Query log(db, "SELECT count(*) FROM pragma_index_info('events_team_type')");
    ASSERT_TRUE(log.Step());
    EXPECT_EQ(log.Int(0), 3);  // team_id, type, seq
  }
  auto tasks = s->LeaseDue(1000, 10, 50000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "e1");
  // The secret rotated out before the upgrade still signs until its deadline.
  EXPECT_EQ(tasks[0].secrets,
            (std::vector<std::string>{"whsec_" + std::string(32, 'N'), *w.secret}));
}

// The write-ahead log is copied into the database file while the store runs, and starts over
// instead of growing for as long as webhookd runs, even when commits never pause.
TEST_F(StoreTest, TheWriteAheadLogIsCheckpointedAndStartsOver) {
  constexpr int64_t kRestartFrames = 200;
  SqliteStore::Options options;
  options.checkpoint_every_ms = 10;  // many rounds while the events below are written
  options.wal_restart_frames = kRestartFrames;
  auto s = std::make_unique<SqliteStore>(dir_.string(), crypto::SecretBox(std::string(32, 'k')),
                                         options);
  s->CreateWebhook(MakeWebhook("t", {"device.enroll"}), Audit("t", "a"));
  const auto db_file = dir_ / "webhookd.db", wal_file = dir_ / "webhookd.db-wal";
  const auto db_size_before = std::filesystem::file_size(db_file);
  // 1,200 events from 4 threads without a pause: ~10 pages a commit, far past 200 pages.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        s->IngestEvent(Event{std::to_string(t) + "-" + std::to_string(i), "device.enroll", "t", 1,
                             Json{{"padding", std::string(500, 'x')}}},
                       1);
      }
    });
  }
  for (auto& th : threads) th.join();
  // Each restart keeps the file at about kRestartFrames pages plus one batch; 1,200 events
  // written to a log that never starts over would be ~4x that.
  const auto page_and_header = 4096 + 24;
  EXPECT_LT(std::filesystem::file_size(wal_file), 4 * kRestartFrames * page_and_header);
  // And the checkpointer copies the pages into the database file.
  Store::WriteStats w;
  mambo::testing::WaitUntil(
      [&] {
        w = s->WriteStatistics();
        return w.wal_frames > 0 && w.wal_checkpointed == w.wal_frames;
      },
      std::chrono::seconds(20));
  EXPECT_GT(w.wal_frames, 0) << "no checkpoint ran";
  EXPECT_EQ(w.wal_checkpointed, w.wal_frames);
  EXPECT_GT(std::filesystem::file_size(db_file), db_size_before + 1200 * 500);
}

TEST_F(StoreTest, ConcurrentWritesShareCommits) {
  auto s = Open();
  s->CreateWebhook(MakeWebhook("t", {"device.enroll"}), Audit("t", "a"));
  const uint64_t before = s->commits();
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        s->IngestEvent(Event{"e" + std::to_string(t) + "-" + std::to_string(i), "device.enroll",
                             "t", 1, Json::object()},
                       1);
      }
    });
  }
  for (auto& th : threads) th.join();
  const uint64_t commits = s->commits() - before;
  EXPECT_EQ(s->Stats().pending, kThreads * kPerThread);
  // Group commit: fewer commits than writes (each write is still durable when it returns).
  EXPECT_LT(commits, static_cast<uint64_t>(kThreads * kPerThread));
  RecordProperty("commits", static_cast<int>(commits));
}

}  // namespace
}  // namespace mambo::store
