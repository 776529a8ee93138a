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

}  // namespace
}  // namespace mambo::store
