// What is PostgreSQL's own in the PostgreSQL store (the behaviour every backend shares is in
// conformance_test.cpp): job locks across processes, the schema version check, notifications,
// connection options across a reconnect.
#include "store/pg_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>

#include "support/pg_cluster.h"
#include "support/store_fixtures.h"
#include "support/wait_until.h"

namespace mambo::store {
namespace {

const crypto::SecretBox kBox(std::string(32, 'k'));

TEST(PgStoreTest, AJobRunsInOneInstanceAtATime) {
  const std::string uri = testing::PgCluster::Get().NewDatabase();
  PgDatabase a(uri, kBox), b(uri, kBox);  // two instances' connections
  PgJobLocks locks_a(a), locks_b(b);
  std::promise<void> entered, leave;
  std::future<bool> first = std::async(std::launch::async, [&] {
    return locks_a.RunExclusive("retention", [&] {
      entered.set_value();
      leave.get_future().wait();
    });
  });
  entered.get_future().wait();
  bool ran = false;
  EXPECT_FALSE(locks_b.RunExclusive("retention", [&] { ran = true; })) << "held by a";
  EXPECT_FALSE(ran);
  EXPECT_TRUE(locks_b.RunExclusive("auto-disable", [&] { ran = true; })) << "another job";
  EXPECT_TRUE(ran);
  leave.set_value();
  EXPECT_TRUE(first.get());
  ran = false;
  EXPECT_TRUE(locks_b.RunExclusive("retention", [&] { ran = true; })) << "released";
  EXPECT_TRUE(ran);
  // A job that throws releases its lock too.
  EXPECT_THROW(locks_a.RunExclusive("retention", [] { throw StoreError("boom"); }), StoreError);
  EXPECT_TRUE(locks_b.RunExclusive("retention", [] {}));
}

TEST(PgStoreTest, ADatabaseFromANewerWebhookdIsRefused) {
  const std::string uri = testing::PgCluster::Get().NewDatabase();
  {
    PgDatabase db(uri, kBox);
    auto c = db.pool().Acquire();
    c->Run("UPDATE schema_version SET version = version + 1");
  }
  try {
    PgDatabase again(uri, kBox);
    ADD_FAILURE() << "opened a database of a newer schema";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this webhookd knows"), std::string::npos)
        << e.what();
  }
}

TEST(PgStoreTest, NotificationsReachTheListenerAndTheTickRunsWithout) {
  const std::string uri = testing::PgCluster::Get().NewDatabase();
  PgDatabase db(uri, kBox);
  std::atomic<int> tokens{0}, queue{0};
  {
    PgListener listener(uri, std::chrono::hours(1));  // no tick within the test
    listener.On("mambo_tokens", [&] { tokens.fetch_add(1); });
    listener.On("mambo_queue", [&] { queue.fetch_add(1); });
    listener.Start();
    // Both run once on connecting (anything may have changed before).
    ASSERT_TRUE(testing::WaitUntil([&] { return tokens.load() == 1 && queue.load() == 1; }));
    PgConfigStore config(db);
    config.CreateToken("acme", Role::kAdmin, std::string(32, 'h'), 1);  // notifies mambo_tokens
    ASSERT_TRUE(testing::WaitUntil([&] { return tokens.load() == 2; }));
    EXPECT_EQ(queue.load(), 1);
  }
  std::atomic<int> ticks{0};
  PgListener ticking(uri, std::chrono::milliseconds(20));
  ticking.On("mambo_queue", [&] { ticks.fetch_add(1); });
  ticking.Start();
  EXPECT_TRUE(testing::WaitUntil([&] { return ticks.load() >= 3; }));
}

TEST(PgStoreTest, ConnectionOptionsOutliveAReconnect) {
  const std::string uri = testing::PgCluster::Get().NewDatabase();
  pg::Conn lease(uri, "-c synchronous_commit=off");
  EXPECT_EQ(lease.Run("SHOW synchronous_commit").Text(0, 0), "off");
  const int64_t pid = lease.Run("SELECT pg_backend_pid()").Int(0, 0);
  pg::Conn other(uri);
  other.Run("SELECT pg_terminate_backend($1::int)", {pid});
  // The next statement finds the session gone, reconnects, and the setting came along.
  EXPECT_EQ(lease.Run("SHOW synchronous_commit").Text(0, 0), "off");
  EXPECT_NE(lease.Run("SELECT pg_backend_pid()").Int(0, 0), pid);
  EXPECT_EQ(other.Run("SHOW synchronous_commit").Text(0, 0), "on");
}

// Ingest's group commit: an event PostgreSQL refuses (an id that is not UTF-8; the API refuses
// those before the store, this is any event the database rejects) fails alone, and the events
// that shared its batch are created all the same.
TEST(PgStoreTest, AnEventTheDatabaseRefusesFailsAloneInItsBatch) {
  const std::string uri = testing::PgCluster::Get().NewDatabase();
  PgDatabase db(uri, kBox);
  PgConfigStore config(db);
  PgQueueStore queue(db, "test");
  Webhook w = testing::TestWebhook("t", {"device.enroll"});
  ASSERT_TRUE(config.CreateWebhook(w, testing::TestAudit("t", w.id)));
  // An uncommitted event "block" holds both batch leaders on its row lock, so the next
  // ingests queue up and go in one batch when it is rolled back.
  pg::Conn blocker(uri);
  blocker.Exec("BEGIN");
  blocker.Run(
      "INSERT INTO events(id, team_id, type, timestamp, data) "
      "VALUES ('block', 't', 'device.enroll', 1, '{}')");
  const auto ingest = [&](std::string id) {
    return std::async(std::launch::async, [&queue, id] {
      return queue.IngestEvent(Event{id, "device.enroll", "t", 1, Json::object()}, 1);
    });
  };
  std::vector<std::future<IngestResult>> blocked;
  for (int i = 0; i < 2; ++i) blocked.push_back(ingest("block"));
  pg::Conn watch(uri);
  ASSERT_TRUE(testing::WaitUntil([&] {
    return watch.Run("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
               .Int(0, 0) == 2;
  }));
  std::vector<std::future<IngestResult>> good;
  for (int i = 0; i < 4; ++i) good.push_back(ingest("good" + std::to_string(i)));
  std::future<IngestResult> bad = ingest("bad\xff");
  ASSERT_TRUE(testing::WaitUntil([&] { return queue.IngestsWaiting() == 5; }));
  blocker.Exec("ROLLBACK");
  EXPECT_THROW(bad.get(), StoreError);
  for (auto& f : good) {
    const IngestResult r = f.get();
    EXPECT_TRUE(r.created) << r.event.id;
    EXPECT_EQ(r.delivery_ids.size(), 1u) << r.event.id;
  }
  EXPECT_NE(blocked[0].get().created, blocked[1].get().created) << "created once";
  EXPECT_EQ(queue.Stats().pending, 5);
}

}  // namespace
}  // namespace mambo::store
