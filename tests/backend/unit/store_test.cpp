// SqliteStore against a real database file in a temporary directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <thread>

#include "crypto/crypto.h"
#include "store/sqlite_store.h"
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
    return AuditEntry{
        crypto::NewId("aud", 1), team, "tok_test", 1, "test", target, nullptr, nullptr};
  }
  Webhook MakeWebhook(const std::string& team, std::vector<std::string> events,
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
  }
  {
    Db db((dir_ / "webhookd.db").string(), false);
    db.Exec("DROP INDEX deliveries_due");
    db.Exec(
        "CREATE INDEX deliveries_due ON deliveries(due_at) "
        "WHERE status IN ('pending', 'failed', 'in_flight')");
    db.Exec("ALTER TABLE attempts DROP COLUMN response_headers_truncated");  // schema 3
    db.Exec("ALTER TABLE deliveries DROP COLUMN lease_id");                   // schema 4
    db.Exec("PRAGMA user_version=1");
  }
  auto s = Open();
  {
    Db db((dir_ / "webhookd.db").string(), true);
    Query v(db, "PRAGMA user_version");
    ASSERT_TRUE(v.Step());
    EXPECT_EQ(v.Int(0), 4);
    Query cols(db, "SELECT count(*) FROM pragma_index_info('deliveries_due')");
    ASSERT_TRUE(cols.Step());
    EXPECT_EQ(cols.Int(0), 2);  // due_at, webhook_id
  }
  auto tasks = s->LeaseDue(1000, 10, 50000, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "e1");
}

TEST_F(StoreTest, RefusesAnotherMainKey) {
  { Open(); }
  EXPECT_THROW(SqliteStore(dir_.string(), crypto::SecretBox(std::string(32, 'z'))), StoreError);
}

TEST_F(StoreTest, WebhookRoundTripKeepsEveryField) {
  auto s = Open();
  Webhook w = MakeWebhook("t", {"device.enroll", "team.update"});
  w.description = "d";
  s->CreateWebhook(w, Audit("t", w.id));
  auto got = s->GetWebhook("t", w.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->url, w.url);
  EXPECT_EQ(got->events, w.events);
  EXPECT_EQ(got->secret, w.secret);
  EXPECT_EQ(got->description, w.description);
  EXPECT_FALSE(s->GetWebhook("other", w.id));  // team scoped
}

TEST_F(StoreTest, IngestIsIdempotentAndFansOutToActiveSubscribers) {
  auto s = Open();
  s->CreateWebhook(MakeWebhook("t", {"device.enroll"}), Audit("t", "a"));
  s->CreateWebhook(MakeWebhook("t", {"device.enroll"}, false), Audit("t", "b"));
  s->CreateWebhook(MakeWebhook("t", {"team.update"}), Audit("t", "c"));
  s->CreateWebhook(MakeWebhook("u", {"device.enroll"}), Audit("u", "d"));
  Event e{"evt_1", "device.enroll", "t", 5000, Json{{"k", 1}}};
  auto first = s->IngestEvent(e, 5000);
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.delivery_ids.size(), 1u);
  auto second = s->IngestEvent(e, 6000);
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.delivery_ids, first.delivery_ids);
  // Same id in another team is another event.
  Event other{"evt_1", "device.enroll", "u", 5000, Json::object()};
  EXPECT_TRUE(s->IngestEvent(other, 5000).created);
}

// Fan-out reads a cache of each team's subscriptions: every kind of webhook change must reach
// the next ingest, including a change rolled back with its failing write.
TEST_F(StoreTest, FanOutFollowsEveryWebhookChange) {
  auto s = Open();
  int n = 0;
  auto fan_out = [&](const std::string& type) {
    return s->IngestEvent(Event{"e" + std::to_string(++n), type, "t", 1, Json::object()}, 1)
        .delivery_ids.size();
  };
  Webhook w = MakeWebhook("t", {"device.enroll"});
  EXPECT_EQ(fan_out("device.enroll"), 0u);  // cached: no webhooks yet
  s->CreateWebhook(w, Audit("t", w.id));
  EXPECT_EQ(fan_out("device.enroll"), 1u);
  w.events = {"team.update"};
  ASSERT_TRUE(s->UpdateWebhook(w, false, Audit("t", w.id)));
  EXPECT_EQ(fan_out("device.enroll"), 0u);
  EXPECT_EQ(fan_out("team.update"), 1u);
  ASSERT_TRUE(s->DisableWebhook("t", w.id, "test", Audit("t", w.id)));
  EXPECT_EQ(fan_out("team.update"), 0u);
  w.active = true;
  ASSERT_TRUE(s->UpdateWebhook(w, false, Audit("t", w.id)));
  EXPECT_EQ(fan_out("team.update"), 1u);
  // A create that fails (its audit id collides) is rolled back: no delivery for that webhook.
  Webhook dup = MakeWebhook("t", {"team.update"});
  AuditEntry audit = Audit("t", dup.id);
  s->AppendAudit(audit);
  EXPECT_THROW(s->CreateWebhook(dup, audit), StoreError);
  EXPECT_EQ(fan_out("team.update"), 1u);
  ASSERT_TRUE(s->DeleteWebhook("t", w.id, Audit("t", w.id)));
  EXPECT_EQ(fan_out("team.update"), 0u);
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

// A lease hands out at most each webhook's room, oldest first, and fills the rest from others
// even when one webhook's backlog comes first in due order.
TEST_F(StoreTest, LeaseRespectsEachWebhooksRoom) {
  auto s = Open();
  Webhook busy = MakeWebhook("t", {"device.enroll"});
  Webhook other = MakeWebhook("t", {"team.update"});
  Webhook full = MakeWebhook("t", {"user.create"});
  for (const Webhook* w : {&busy, &other, &full}) s->CreateWebhook(*w, Audit("t", w->id));
  for (int i = 0; i < 6; ++i) {  // busy's backlog is due first
    s->IngestEvent(Event{"b" + std::to_string(i), "device.enroll", "t", 1, Json::object()},
                   100 + i);
  }
  s->IngestEvent(Event{"o", "team.update", "t", 1, Json::object()}, 200);
  s->IngestEvent(Event{"f", "user.create", "t", 1, Json::object()}, 200);
  Store::LeaseRoom room;
  room.default_room = 2;
  room.room[full.id] = 0;
  auto tasks = s->LeaseDue(1000, 10, 50000, room);
  std::map<std::string, int> per_webhook;
  for (const auto& t : tasks) ++per_webhook[t.delivery.webhook_id];
  EXPECT_EQ(per_webhook[busy.id], 2);
  EXPECT_EQ(per_webhook[other.id], 1);
  EXPECT_EQ(per_webhook.count(full.id), 0u);
  ASSERT_EQ(tasks.size(), 3u);
  EXPECT_EQ(tasks[0].event.id, "b0");  // oldest first
  EXPECT_EQ(tasks[1].event.id, "b1");
  // What was left out is still due.
  EXPECT_EQ(s->LeaseDue(1000, 10, 50000, {}).size(), 5u);
}

// A webhook out of room (a hung endpoint) never holds up the others, however long its backlog;
// one this lease fills is passed over only so far (4 x the lease's limit), to keep leases cheap.
TEST_F(StoreTest, LeasePassesOverAHungWebhooksBacklogButNotEndlesslyAFilledOnes) {
  auto s = Open();
  Webhook hung = MakeWebhook("t", {"device.enroll"});
  Webhook other = MakeWebhook("t", {"team.update"});
  for (const Webhook* w : {&hung, &other}) s->CreateWebhook(*w, Audit("t", w->id));
  for (int i = 0; i < 50; ++i) {
    s->IngestEvent(Event{"h" + std::to_string(i), "device.enroll", "t", 1, Json::object()},
                   100 + i);
  }
  s->IngestEvent(Event{"o", "team.update", "t", 1, Json::object()}, 500);
  Store::LeaseRoom room;
  room.room[hung.id] = 0;
  auto tasks = s->LeaseDue(1000, 2, 50000, room);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "o");

  // The same backlog with room 1: the lease takes h0, passes over 8 more and stops there,
  // before o2.
  s->IngestEvent(Event{"o2", "team.update", "t", 1, Json::object()}, 600);
  room.room[hung.id] = 1;
  tasks = s->LeaseDue(1000, 2, 50000, room);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "h0");
  // Out of room from the start, as the engine says next time: o2 is reached.
  room.room[hung.id] = 0;
  tasks = s->LeaseDue(1000, 2, 50000, room);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].event.id, "o2");
}

// Retention deletes finished deliveries (with their attempts) and the events left without one,
// before the cutoff only, and never a delivery still waiting, however old.
TEST_F(StoreTest, PruneDeletesWhatFinishedBeforeTheCutoffAndKeepsWhatWaits) {
  auto s = Open();
  Webhook w = MakeWebhook("t", {"device.enroll"});
  s->CreateWebhook(w, Audit("t", w.id));
  const auto d1 = s->IngestEvent(Event{"e1", "device.enroll", "t", 100, Json::object()}, 100);
  const auto d2 = s->IngestEvent(Event{"e2", "device.enroll", "t", 100, Json::object()}, 100);
  s->IngestEvent(Event{"orphan", "team.update", "t", 100, Json::object()}, 100);  // no delivery
  const auto d3 = s->IngestEvent(Event{"e3", "device.enroll", "t", 300, Json::object()}, 300);
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
    EXPECT_EQ(s->RecordAttempt(o), RecordResult::kRecorded);
  };
  for (const DeliveryTask& t : s->LeaseDue(1000, 10, 50000, {})) {
    leases[t.delivery.id] = t.lease_id;
  }
  ASSERT_EQ(leases.size(), 3u);
  record(d1.delivery_ids[0], 150, DeliveryStatus::kSucceeded);
  record(d2.delivery_ids[0], 150, DeliveryStatus::kFailed);  // waits for its retry
  record(d3.delivery_ids[0], 350, DeliveryStatus::kSucceeded);
  auto count = [&](const char* sql) {
    Db db((dir_ / "webhookd.db").string(), true);
    Query q(db, sql);
    return q.Step() ? q.Int(0) : -1;
  };
  ASSERT_EQ(count("SELECT count(*) FROM attempts"), 3);

  EXPECT_EQ(s->PruneBefore(200, 10), 2);  // d1; e1 and the orphan event
  EXPECT_FALSE(s->GetDelivery("t", d1.delivery_ids[0]));
  EXPECT_TRUE(s->GetDelivery("t", d2.delivery_ids[0]));
  ASSERT_TRUE(s->GetDelivery("t", d3.delivery_ids[0]));
  EXPECT_EQ(s->GetDelivery("t", d3.delivery_ids[0])->attempts.size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM attempts"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE id IN ('e1', 'orphan')"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM events WHERE id IN ('e2', 'e3')"), 2);
  EXPECT_EQ(s->PruneBefore(200, 10), 0);  // nothing more before the cutoff

  // A later cutoff takes d3 and e3, one batch at a time; d2 still waits and keeps e2.
  EXPECT_EQ(s->PruneBefore(1'000'000, 1), 1);
  EXPECT_FALSE(s->GetDelivery("t", d3.delivery_ids[0]));
  EXPECT_TRUE(s->GetDelivery("t", d2.delivery_ids[0]));
  EXPECT_EQ(count("SELECT count(*) FROM events"), 1);
  EXPECT_EQ(s->Stats().pending, 1);
}

TEST_F(StoreTest, LeaseRecordAndExpiredLeasesComeBack) {
  auto s = Open();
  Webhook w = MakeWebhook("t", {"device.enroll"});
  s->CreateWebhook(w, Audit("t", w.id));
  auto ingest = s->IngestEvent(Event{"e1", "device.enroll", "t", 100, Json{{"n", 1}}}, 100);
  ASSERT_EQ(ingest.delivery_ids.size(), 1u);
  auto tasks = s->LeaseDue(100, 10, 30100, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].url, w.url);
  EXPECT_EQ(tasks[0].secrets, std::vector<std::string>{*w.secret});
  EXPECT_EQ(Json::parse(tasks[0].data_json)["n"], 1);
  EXPECT_TRUE(s->LeaseDue(200, 10, 30200, {}).empty());  // leased: not handed out twice
  auto again = s->LeaseDue(30100, 10, 60100, {});        // lease expired (crash): comes back
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
  EXPECT_EQ(s->RecordAttempt(o), RecordResult::kLeaseLost) << "fenced: nothing written";
  EXPECT_TRUE(s->GetDelivery("t", again[0].delivery.id)->attempts.empty());
  o.lease_id = again[0].lease_id;
  EXPECT_EQ(s->RecordAttempt(o), RecordResult::kRecorded);
  auto d = s->GetDelivery("t", again[0].delivery.id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, DeliveryStatus::kFailed);
  EXPECT_EQ(d->attempt_count, 1);
  EXPECT_EQ(d->next_attempt_at, 35200);
  ASSERT_EQ(d->attempts.size(), 1u);
  EXPECT_EQ(d->attempts[0].http_status, 500);
  EXPECT_EQ(d->attempts[0].response_excerpt, "oops");
  EXPECT_EQ(d->attempts[0].request_headers, (Headers{{"webhook-id", "e1"}}));
  EXPECT_TRUE(s->LeaseDue(35199, 10, 40000, {}).empty());
  EXPECT_EQ(s->LeaseDue(35200, 10, 40000, {}).size(), 1u);
  EXPECT_FALSE(s->GetDelivery("other-team", again[0].delivery.id));
}

TEST_F(StoreTest, RotationKeepsThePreviousSecretUntilItsDeadline) {
  auto s = Open();
  Webhook w = MakeWebhook("t", {"device.enroll"});
  s->CreateWebhook(w, Audit("t", w.id));
  ASSERT_TRUE(
      s->RotateSecret("t", w.id, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", 5000, Audit("t", w.id)));
  s->IngestEvent(Event{"e1", "device.enroll", "t", 100, Json::object()}, 100);
  auto tasks = s->LeaseDue(4000, 10, 4500, {});
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].secrets,
            (std::vector<std::string>{"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", *w.secret}));
  auto later =
      s->LeaseDue(6000, 10, 7000, {});  // lease expired at 4500; old secret expired at 5000
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].secrets.size(), 1u);
}

TEST_F(StoreTest, DeletingAWebhookDropsItsDeliveries) {
  auto s = Open();
  Webhook w = MakeWebhook("t", {"device.enroll"});
  s->CreateWebhook(w, Audit("t", w.id));
  s->IngestEvent(Event{"e1", "device.enroll", "t", 100, Json::object()}, 100);
  EXPECT_FALSE(s->DeleteWebhook("other", w.id, Audit("other", w.id)));
  EXPECT_TRUE(s->DeleteWebhook("t", w.id, Audit("t", w.id)));
  EXPECT_TRUE(s->LeaseDue(1000, 10, 2000, {}).empty());
  EXPECT_EQ(s->Stats().pending, 0);
}

}  // namespace
}  // namespace mambo::store
