// The delivery engine with a real SQLite store and real HTTPS receivers, on an injected clock:
// the whole retry schedule runs in milliseconds.
#include "delivery/engine.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "crypto/crypto.h"
#include "delivery/auto_disable.h"
#include "delivery/signature.h"
#include "store/sqlite_store.h"
#include "support/https_receiver.h"
#include "support/wait_until.h"

namespace mambo::delivery {
namespace {

using mambo::testing::HttpsReceiver;
using mambo::testing::TestCert;

constexpr int64_t kStart = 1'700'000'000'000;
const std::string kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

class EngineTest : public ::testing::Test {
 protected:
  EngineTest()
      : dir_(std::filesystem::temp_directory_path() /
             ("mambo-engine-" + crypto::Hex(crypto::RandomBytes(6)))),
        clock_(kStart),
        guard_(ParseCidrList("127.0.0.1/32").cidrs) {
    store_ = std::make_unique<store::SqliteStore>(dir_.string(),
                                                  crypto::SecretBox(std::string(32, 'k')));
    HttpSenderOptions so;
    so.extra_ca_file = TestCert::Get().cert;
    so.request_timeout_ms = 10000;
    sender_ = std::make_unique<HttpSender>(so, guard_, clock_);
  }
  ~EngineTest() override {
    if (engine_) engine_->Stop();
    engine_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void StartEngine(EngineOptions options = {}, RetryPolicy policy = RetryPolicy::Seeded(7)) {
    policy_ = std::make_unique<RetryPolicy>(std::move(policy));
    options.max_idle_wait_ms = 20;  // real time between re-checks of the manual clock
    if (options.workers == 32) options.workers = 4;
    engine_ = std::make_unique<DeliveryEngine>(*store_, *sender_, *policy_, clock_, options);
    engine_->SetObserver([this](const store::DeliveryTask& task, const store::AttemptOutcome& o) {
      std::lock_guard lock(mu_);
      outcomes_.push_back({task.delivery.webhook_id, o});
      cv_.notify_all();
    });
    engine_->Start();
  }

  struct Seen {
    std::string webhook_id;
    store::AttemptOutcome outcome;
  };
  // Waits for the n-th recorded attempt (bounded: a failure, not a hang, if it never comes).
  Seen WaitOutcome(size_t n) {
    std::unique_lock lock(mu_);
    const bool ok =
        cv_.wait_for(lock, std::chrono::seconds(30), [&] { return outcomes_.size() >= n; });
    EXPECT_TRUE(ok) << "attempt " << n << " was never recorded";
    return ok ? outcomes_[n - 1] : Seen{};
  }

  Webhook AddWebhook(const std::string& url, std::optional<std::string> secret = kSecret,
                     const std::string& team = "acme") {
    Webhook w;
    w.id = crypto::NewId("wh", kStart);
    w.team_id = team;
    w.url = url;
    w.events = {"device.enroll"};
    w.secret = secret;
    w.created_at = w.updated_at = clock_.NowMs();
    store_->CreateWebhook(w, store::AuditEntry{crypto::NewId("aud", kStart), team, "test", kStart,
                                               "webhook.create", w.id, nullptr, nullptr});
    return w;
  }
  void Ingest(const std::string& id, const std::string& team = "acme") {
    store_->IngestEvent(Event{id, "device.enroll", team, clock_.NowMs(), Json{{"device", id}}},
                        clock_.NowMs());
    engine_->Wake();
  }

  // One endpoint that holds every request until released, one that answers at once; 4 workers,
  // 2 per endpoint. `queue_first`: the events are stored before the engine exists.
  void ExpectAHungEndpointNotToStarve(int events, bool queue_first) {
    HttpsReceiver* hanging_ptr = nullptr;  // the handler hangs on its own receiver
    HttpsReceiver hanging([&](const httplib::Request&, httplib::Response& res) {
      hanging_ptr->Hang();
      res.set_content("late", "text/plain");
    });
    hanging_ptr = &hanging;
    HttpsReceiver fast;
    AddWebhook(hanging.Url());
    AddWebhook(fast.Url());
    for (int i = 0; queue_first && i < events; ++i) {  // Ingest would wake a missing engine
      store_->IngestEvent(Event{"evt-" + std::to_string(i), "device.enroll", "acme", clock_.NowMs(),
                                Json::object()},
                          clock_.NowMs());
    }
    EngineOptions options;
    options.workers = 4;
    options.per_endpoint_concurrency = 2;
    StartEngine(options);
    for (int i = 0; !queue_first && i < events; ++i) Ingest("evt-" + std::to_string(i));
    EXPECT_TRUE(fast.WaitForCount(static_cast<size_t>(events))) << fast.Count();
    EXPECT_LE(hanging.Count(), 2u);
    hanging.Release();
  }

  std::filesystem::path dir_;
  ManualClock clock_;
  AddressGuard guard_;
  std::unique_ptr<store::SqliteStore> store_;
  std::unique_ptr<HttpSender> sender_;
  std::unique_ptr<RetryPolicy> policy_;
  std::unique_ptr<DeliveryEngine> engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Seen> outcomes_;
};

TEST_F(EngineTest, DeliversSignedPayloadAndRecordsTheAttempt) {
  HttpsReceiver receiver;
  const Webhook w = AddWebhook(receiver.Url());
  StartEngine();
  Ingest("evt-1");
  const Seen seen = WaitOutcome(1);
  EXPECT_EQ(seen.outcome.status, DeliveryStatus::kSucceeded);
  ASSERT_EQ(receiver.Count(), 1u);
  const auto req = receiver.Requests()[0];
  EXPECT_EQ(req.Header("Content-Type"), "application/json");
  EXPECT_EQ(req.Header("User-Agent").rfind("mambo-webhooks/", 0), 0u) << req.Header("User-Agent");
  EXPECT_EQ(req.Header("webhook-id"), "evt-1");
  const auto verified = Verify(kSecret, req.Header("webhook-id"), req.Header("webhook-timestamp"),
                               req.body, req.Header("webhook-signature"), kStart / 1000);
  EXPECT_TRUE(verified.ok) << verified.error;
  const Json body = Json::parse(req.body);
  EXPECT_EQ(body["id"], "evt-1");
  EXPECT_EQ(body["type"], "device.enroll");
  EXPECT_EQ(body["team_id"], "acme");
  EXPECT_EQ(body["data"]["device"], "evt-1");
  EXPECT_EQ(body["timestamp"], FormatTimestamp(kStart));

  auto page = store_->ListDeliveries("acme", w.id, {}, 10, "");
  ASSERT_EQ(page.items.size(), 1u);
  auto d = store_->GetDelivery("acme", page.items[0].id);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, DeliveryStatus::kSucceeded);
  ASSERT_EQ(d->attempts.size(), 1u);
  EXPECT_EQ(d->attempts[0].http_status, 200);
  EXPECT_EQ(d->attempts[0].response_excerpt, "ok");
  bool has_signature_header = false;
  for (const auto& [k, v] : d->attempts[0].request_headers) {
    has_signature_header = has_signature_header || k == "webhook-signature";
  }
  EXPECT_TRUE(has_signature_header);
}

TEST_F(EngineTest, NoSecretMeansNoSignatureHeader) {
  HttpsReceiver receiver;
  AddWebhook(receiver.Url(), std::nullopt);
  StartEngine();
  Ingest("evt-1");
  EXPECT_EQ(WaitOutcome(1).outcome.status, DeliveryStatus::kSucceeded);
  const auto req = receiver.Requests().at(0);
  EXPECT_EQ(req.Header("webhook-signature"), "");
  EXPECT_EQ(req.Header("webhook-id"), "evt-1");
}

TEST_F(EngineTest, RotationSignsWithBothSecretsDuringTheGracePeriod) {
  HttpsReceiver receiver;
  const Webhook w = AddWebhook(receiver.Url());
  const std::string fresh = crypto::GenerateWebhookSecret();
  ASSERT_TRUE(store_->RotateSecret(
      "acme", w.id, fresh, kStart + 3600000,
      store::AuditEntry{"aud_r", "acme", "t", kStart, "rotate", w.id, nullptr, nullptr}));
  StartEngine();
  Ingest("evt-1");
  WaitOutcome(1);
  const auto req = receiver.Requests().at(0);
  const std::string header = req.Header("webhook-signature");
  EXPECT_NE(header.find(' '), std::string::npos) << header;  // two signatures
  for (const std::string& secret : {kSecret, fresh}) {
    EXPECT_TRUE(Verify(secret, req.Header("webhook-id"), req.Header("webhook-timestamp"), req.body,
                       header, kStart / 1000)
                    .ok);
  }
}

TEST_F(EngineTest, RunsTheWholeRetryScheduleOnTheInjectedClock) {
  HttpsReceiver receiver([](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("down", "text/plain");
  });
  AddWebhook(receiver.Url());
  StartEngine();
  Ingest("evt-1");
  const std::vector<int64_t> schedule = DefaultRetryScheduleMs();  // 0, 5 s, ..., 24 h
  for (size_t n = 1; n <= schedule.size(); ++n) {
    const Seen seen = WaitOutcome(n);
    EXPECT_EQ(seen.outcome.attempt.number, static_cast<int>(n));
    EXPECT_EQ(seen.outcome.attempt.http_status, 500);
    if (n == schedule.size()) {
      EXPECT_EQ(seen.outcome.status, DeliveryStatus::kExhausted);
      break;
    }
    ASSERT_EQ(seen.outcome.status, DeliveryStatus::kFailed);
    const int64_t delay = seen.outcome.next_attempt_at - clock_.NowMs();
    EXPECT_GE(delay, schedule[n] * 8 / 10) << "after attempt " << n;
    EXPECT_LE(delay, schedule[n] * 12 / 10) << "after attempt " << n;
    clock_.Set(seen.outcome.next_attempt_at);
    engine_->Wake();
  }
  EXPECT_EQ(receiver.Count(), schedule.size());
  // About 3.3 days of schedule ran; nothing else is due.
  EXPECT_GT(clock_.NowMs() - kStart, 3LL * 24 * 3600 * 1000);
}

TEST_F(EngineTest, RetryAfterIsHonouredButClamped) {
  int calls = 0;
  HttpsReceiver receiver([&](const httplib::Request&, httplib::Response& res) {
    res.status = 429;
    // First a huge Retry-After (clamped to 2 x delay), then a tiny one (raised to the delay).
    res.set_header("Retry-After", ++calls == 1 ? "86400" : "1");
  });
  AddWebhook(receiver.Url());
  StartEngine();
  Ingest("evt-1");
  Seen first = WaitOutcome(1);
  int64_t delay = first.outcome.next_attempt_at - clock_.NowMs();
  EXPECT_GE(delay, 5000 * 8 / 10 * 2);   // pushed to the clamp ...
  EXPECT_LE(delay, 5000 * 12 / 10 * 2);  // ... never to a day
  clock_.Set(first.outcome.next_attempt_at);
  engine_->Wake();
  Seen second = WaitOutcome(2);
  delay = second.outcome.next_attempt_at - clock_.NowMs();
  EXPECT_GE(delay, 300000 * 8 / 10);  // 1 s asked, the schedule's 5 min kept
}

TEST_F(EngineTest, GoneDisablesTheWebhookWithAReasonAndAnAuditEntry) {
  HttpsReceiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 410; });
  const Webhook w = AddWebhook(receiver.Url());
  StartEngine();
  Ingest("evt-1");
  EXPECT_EQ(WaitOutcome(1).outcome.status, DeliveryStatus::kExhausted);
  auto after = store_->GetWebhook("acme", w.id);
  ASSERT_TRUE(after);
  EXPECT_FALSE(after->active);
  ASSERT_TRUE(after->disabled_reason);
  EXPECT_NE(after->disabled_reason->find("410 Gone"), std::string::npos);
  auto audit = store_->ListAudit("acme", 10, "");
  EXPECT_EQ(audit.items.at(0).action, "webhook.disable");
  EXPECT_EQ(audit.items.at(0).actor, "system");
}

TEST_F(EngineTest, AutoDisablesAWebhookThatOnlyFailsForThePeriod) {
  HttpsReceiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  const Webhook w = AddWebhook(receiver.Url());
  StartEngine({}, RetryPolicy([] { return 0.5; }, {0}));  // one attempt, then exhausted
  Ingest("evt-1");
  EXPECT_EQ(WaitOutcome(1).outcome.status, DeliveryStatus::kExhausted);
  AutoDisable auto_disable(*store_, *store_, clock_, 5LL * 24 * 3600 * 1000);
  EXPECT_EQ(auto_disable.Check(), 0);
  EXPECT_TRUE(store_->GetWebhook("acme", w.id)->active);  // failing, but not for 5 days yet
  clock_.Advance(5LL * 24 * 3600 * 1000 + 2000);
  EXPECT_EQ(auto_disable.Check(), 1);
  const std::optional<Webhook> now = store_->GetWebhook("acme", w.id);
  ASSERT_FALSE(now->active);
  EXPECT_NE(now->disabled_reason->find("Disabled automatically"), std::string::npos);
  EXPECT_EQ(store_->ListAudit("acme", 1, "").items.at(0).action, "webhook.auto_disable");
  EXPECT_EQ(auto_disable.Check(), 0) << "disabled once";
  // Switched on again, it stays on: the window starts from the re-enable, and the failures
  // before it do not count (the next check, a minute later, used to disable it again).
  Webhook enabled = *now;
  enabled.active = true;
  enabled.disabled_reason.reset();
  enabled.updated_at = clock_.NowMs();
  ASSERT_TRUE(store_->UpdateWebhook(
      enabled, false,
      store::AuditEntry{"aud_on", "acme", "t", clock_.NowMs(), "update", w.id, nullptr, nullptr}));
  for (int check = 0; check < 3; ++check) {
    clock_.Advance(60 * 1000);
    EXPECT_EQ(auto_disable.Check(), 0);
  }
  clock_.Advance(5LL * 24 * 3600 * 1000);
  EXPECT_EQ(auto_disable.Check(), 0) << "nothing failed since the re-enable";
  EXPECT_TRUE(store_->GetWebhook("acme", w.id)->active);
}

// A slow or dead endpoint holds at most its 2 workers (of 4), and the other endpoint gets
// every delivery meanwhile.
TEST_F(EngineTest, ASlowEndpointNeverDelaysTheOthers) {
  ExpectAHungEndpointNotToStarve(10, false);
}

// The same with the whole backlog queued before the engine starts, so the first lease holds
// both endpoints' deliveries: the hung endpoint's share waits in memory, and must neither
// starve the other endpoint nor grow past what it can send within a lease.
TEST_F(EngineTest, ATeamWhoseEndpointsAllHangGetsABoundedShareOfTheWorkers) {
  // Team "tarpit": six webhooks on a receiver that never answers; each alone is within the
  // per-endpoint cap (2), together they would hold all 8 workers for the whole request timeout
  // (10 s here, minutes in the field with retries). Team "acme": one healthy webhook.
  HttpsReceiver* tarpit_ptr = nullptr;
  HttpsReceiver tarpit([&](const httplib::Request&, httplib::Response& res) {
    tarpit_ptr->Hang();
    res.set_content("late", "text/plain");
  });
  tarpit_ptr = &tarpit;
  HttpsReceiver healthy;
  for (int i = 0; i < 6; ++i)
    AddWebhook(tarpit.Url("/hook" + std::to_string(i)), kSecret, "tarpit");
  AddWebhook(healthy.Url(), kSecret, "acme");
  EngineOptions options;
  options.workers = 8;
  options.per_endpoint_concurrency = 2;
  options.per_team_concurrency = 4;
  StartEngine(options);
  for (int i = 0; i < 20; ++i) Ingest("tarpit-" + std::to_string(i), "tarpit");
  // The tarpit team takes its share first: 4 requests hang at the receiver.
  ASSERT_TRUE(tarpit.WaitForCount(4)) << tarpit.Count();
  for (int i = 0; i < 20; ++i) Ingest("acme-" + std::to_string(i), "acme");
  // The other team's deliveries go out while those hang (well before the 10 s timeout).
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(healthy.WaitForCount(20, std::chrono::seconds(5))) << healthy.Count();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(tarpit.Count(), 4u) << "the tarpit team held more than its share";
  tarpit.Release();
}

TEST_F(EngineTest, AHungEndpointsLeasedBacklogDoesNotStarveTheOthers) {
  ExpectAHungEndpointNotToStarve(30, true);
}

}  // namespace
}  // namespace mambo::delivery
