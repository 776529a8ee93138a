// The delivery path end to end: a real webhookd process, real HTTPS receivers on loopback with
// a certificate made at test time, the API to ingest and inspect, SIGKILL for the crash test.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>
#include <thread>

#include "delivery/signature.h"
#include "service/webhookd_process.h"
#include "store/sqlite_db.h"
#include "support/event_bodies.h"
#include "support/https_receiver.h"
#include "support/wait_until.h"

namespace mambo::testing {
namespace {

class DeliveryServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_ = CreateToken(dir_.path(), "acme", "admin");
    ingest_ = CreateToken(dir_.path(), "acme", "ingest");
  }
  void Start(std::vector<std::string> extra = {}, bool allow_loopback = true) {
    std::vector<std::string> args{"--ca-file", TestCert::Get().cert};
    if (allow_loopback) {
      args.push_back("--allow-private-targets");
      args.push_back("127.0.0.1/32");
    }
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = std::make_unique<WebhookdProcess>(dir_.path(), args);
    ASSERT_TRUE(server_->started());
  }
  std::pair<std::string, std::string> CreateWebhook(
      const std::string& url, const std::string& events = "[\"device.enroll\"]") {
    auto r =
        server_->Call("POST", "/api/v1/webhooks", admin_,
                      R"({"url":")" + url + R"(","events":)" + events + R"(,"secret":"generate"})");
    EXPECT_EQ(r.status, 201) << r.raw;
    return {r.body.value("id", ""), r.body.value("secret", "")};
  }
  std::string Ingest(const std::string& id) {
    auto r = server_->Call("POST", "/api/v1/events", ingest_, EventBody("device.enroll", id));
    EXPECT_EQ(r.status, 202) << r.raw;
    return r.body["deliveries"].empty() ? "" : r.body["deliveries"][0].get<std::string>();
  }
  Json Delivery(const std::string& id) {
    return server_->Call("GET", "/api/v1/deliveries/" + id, admin_).body;
  }
  bool DeliveryIs(const std::string& id, const std::string& status) {
    return Delivery(id).value("status", "") == status;
  }
  // What a failed wait should print: the engine's and store's metrics, the queue by state (read
  // from the database beside the running process) and the end of webhookd's log.
  std::string Diagnose() {
    std::string out = "--- /metrics\n";
    if (auto r = server_->Client().Get("/metrics")) {
      for (const std::string_view prefix :
           {"mambo_deliver", "mambo_engine", "mambo_store", "mambo_http"}) {
        size_t pos = 0;
        while ((pos = r->body.find(prefix, pos)) != std::string::npos) {
          const size_t end = r->body.find('\n', pos);
          if (pos == 0 || r->body[pos - 1] == '\n') out += r->body.substr(pos, end - pos) + "\n";
          pos = end;
        }
      }
    } else {
      out += "(no answer)\n";
    }
    out += "--- deliveries by status (due_at relative to now, ms)\n";
    try {
      store::Db db(dir_.path() + "/webhookd.db", true);
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      store::Query q(db,
                     "SELECT status, count(*), min(due_at) - ?1, max(due_at) - ?1, "
                     "sum(attempt_count) FROM deliveries GROUP BY status");
      q.Bind(1, now);
      while (q.Step()) {
        out += q.Text(0) + ": " + std::to_string(q.Int(1)) + " (due " + std::to_string(q.Int(2)) +
               " .. " + std::to_string(q.Int(3)) + ", attempts " + std::to_string(q.Int(4)) + ")\n";
      }
    } catch (const std::exception& e) {
      out += std::string("(database: ") + e.what() + ")\n";
    }
    const std::string log = server_->Log();
    out += "--- webhookd log (end)\n" + log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
    return out;
  }

  TempDir dir_;
  std::string admin_, ingest_;
  std::unique_ptr<WebhookdProcess> server_;
};

TEST_F(DeliveryServiceTest, EventReachesTheReceiverSignedAndTheAttemptIsRecorded) {
  HttpsReceiver receiver;
  Start();
  const auto [webhook, secret] = CreateWebhook(receiver.Url());
  const std::string delivery = Ingest("evt-1");
  ASSERT_TRUE(receiver.WaitForCount(1));
  const auto req = receiver.Requests()[0];
  const auto verified =
      delivery::Verify(secret, req.Header("webhook-id"), req.Header("webhook-timestamp"), req.body,
                       req.Header("webhook-signature"), std::time(nullptr));
  EXPECT_TRUE(verified.ok) << verified.error;
  EXPECT_EQ(req.Header("webhook-id"), "evt-1");
  EXPECT_EQ(req.Header("User-Agent").rfind("mambo-webhooks/", 0), 0u);
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(delivery, "succeeded"); }));
  const Json d = Delivery(delivery);
  ASSERT_EQ(d["attempts"].size(), 1u);
  const Json& a = d["attempts"][0];
  EXPECT_EQ(a["http_status"], 200);
  EXPECT_TRUE(a["cause"].is_null());
  EXPECT_EQ(a["response_excerpt"], "ok");
  EXPECT_GE(a["duration_ms"].get<int>(), 0);
  bool sent_signature = false;
  for (const auto& h : a["request_headers"]) sent_signature |= h[0] == "webhook-signature";
  EXPECT_TRUE(sent_signature);
  // The secret itself never shows in what the API returns about attempts.
  EXPECT_EQ(d.dump().find(secret.substr(6)), std::string::npos);
  // What was sent: the very bytes the receiver got, and headers whose signature verifies over
  // them with the secret.
  ASSERT_TRUE(d["request"].is_object()) << d.dump();
  EXPECT_EQ(d["request"]["body"], req.body);
  std::map<std::string, std::string> sent;
  for (const auto& h : d["request"]["headers"]) sent[h[0]] = h[1];
  EXPECT_EQ(sent["webhook-signature"], req.Header("webhook-signature"));
  const auto again = delivery::Verify(secret, sent["webhook-id"], sent["webhook-timestamp"],
                                      d["request"]["body"].get<std::string>(),
                                      sent["webhook-signature"], std::time(nullptr));
  EXPECT_TRUE(again.ok) << again.error;

  auto list =
      server_->Call("GET", "/api/v1/webhooks/" + webhook + "/deliveries?status=succeeded", admin_);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["data"].size(), 1u);
  EXPECT_EQ(list.body["data"][0]["event_type"], "device.enroll");
  EXPECT_TRUE(
      server_->Call("GET", "/api/v1/webhooks/" + webhook + "/deliveries?status=failed", admin_)
          .body["data"]
          .empty());
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks/" + webhook + "/deliveries?status=bogus", admin_)
                .status,
            422);

  auto metrics = server_->Client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("mambo_deliveries_total{outcome=\"succeeded\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("mambo_delivery_attempt_duration_seconds_bucket"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("mambo_delivery_queue_depth 0"), std::string::npos);
  EXPECT_NE(metrics->body.find("mambo_delivery_oldest_pending_age_seconds"), std::string::npos);
  // Committed writes so far: at least the webhook, the event and the attempt.
  std::smatch writes;
  ASSERT_TRUE(
      std::regex_search(metrics->body, writes, std::regex("\nmambo_store_writes_total ([0-9]+)\n")))
      << metrics->body;
  EXPECT_GE(std::stoull(writes[1]), 3u);
  EXPECT_NE(metrics->body.find("mambo_store_write_queue "), std::string::npos);
}

// Three rotations in a row, each with its own grace period: the delivery after them is signed
// with the current secret and all three rotated out, and each signature verifies on its own
// (a receiver that still holds any of them accepts it). The API lists their expiries.
TEST_F(DeliveryServiceTest, ThreeRotationsInARowLeaveEveryPreviousSecretSigning) {
  HttpsReceiver receiver;
  Start();
  const auto [webhook, first] = CreateWebhook(receiver.Url());
  std::vector<std::string> secrets{first};
  for (const int grace : {3600, 7200, 600}) {
    auto r = server_->Call("POST", "/api/v1/webhooks/" + webhook + "/secret/rotate", admin_,
                           R"({"grace_period_seconds":)" + std::to_string(grace) + "}");
    ASSERT_EQ(r.status, 200) << r.raw;
    secrets.push_back(r.body["secret"]);
  }
  auto last = server_->Call("POST", "/api/v1/webhooks/" + webhook + "/secret/rotate", admin_, "");
  ASSERT_EQ(last.status, 200) << last.raw;
  secrets.push_back(last.body["secret"]);
  // Default grace (24 h) for the last one, then 2 h, 1 h and 10 min: latest expiry first.
  ASSERT_EQ(last.body["previous_secrets"].size(), 4u) << last.raw;
  std::vector<int64_t> until;
  for (const Json& p : last.body["previous_secrets"]) {
    until.push_back(*ParseTimestamp(p["valid_until"].get<std::string>()));
  }
  EXPECT_TRUE(std::is_sorted(until.rbegin(), until.rend())) << last.raw;
  EXPECT_NEAR(until[0] - until[1], (24 - 2) * 3600000.0, 60000.0);
  Ingest("evt-rotated");
  ASSERT_TRUE(receiver.WaitForCount(1));
  const auto req = receiver.Requests()[0];
  const std::string header = req.Header("webhook-signature");
  EXPECT_EQ(std::count(header.begin(), header.end(), ' '), 4) << "five signatures: " << header;
  for (const std::string& secret : secrets) {
    const auto verified =
        delivery::Verify(secret, req.Header("webhook-id"), req.Header("webhook-timestamp"),
                         req.body, header, std::time(nullptr));
    EXPECT_TRUE(verified.ok) << verified.error;
  }
}

TEST_F(DeliveryServiceTest, AddressGuardRefusesLoopbackWithoutTheAllowList) {
  HttpsReceiver receiver;
  Start({}, /*allow_loopback=*/false);
  CreateWebhook(receiver.Url());
  const std::string delivery = Ingest("evt-1");
  ASSERT_TRUE(WaitUntil([&] { return Delivery(delivery).value("attempt_count", 0) >= 1; }));
  const Json d = Delivery(delivery);
  EXPECT_EQ(d["status"], "failed");
  EXPECT_EQ(d["attempts"][0]["cause"], "blocked_address");
  EXPECT_NE(d["attempts"][0]["error"].get<std::string>().find("loopback"), std::string::npos)
      << d.dump();
  EXPECT_EQ(receiver.Count(), 0u);  // never connected
}

TEST_F(DeliveryServiceTest, FailuresAreRetriedOnTheScheduleUntilSuccess) {
  std::atomic<int> calls{0};
  HttpsReceiver receiver([&](const httplib::Request&, httplib::Response& res) {
    if (++calls <= 2) {
      res.status = 500;
      res.set_content("try later", "text/plain");
    } else {
      res.set_content("ok", "text/plain");
    }
  });
  // 5 s and 5 min become 5 ms and 300 ms.
  Start({"--retry-speedup", "1000"});
  CreateWebhook(receiver.Url());
  const std::string delivery = Ingest("evt-1");
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(delivery, "succeeded"); }));
  const Json d = Delivery(delivery);
  ASSERT_EQ(d["attempts"].size(), 3u) << d.dump(1) << server_->Log();
  EXPECT_EQ(d["attempts"][0]["http_status"], 500);
  EXPECT_EQ(d["attempts"][0]["cause"], "http_status");
  EXPECT_EQ(d["attempts"][0]["response_excerpt"], "try later");
  EXPECT_EQ(d["attempts"][2]["http_status"], 200);
  // Same message id on every attempt: receivers dedupe on it.
  std::set<std::string> ids;
  for (const auto& r : receiver.Requests()) ids.insert(r.Header("webhook-id"));
  EXPECT_EQ(ids, std::set<std::string>{"evt-1"});
}

// A webhook's custom headers go out with every attempt, retries too, beside the signed ones;
// the attempts the API shows carry them masked, and the sent request's headers likewise.
TEST_F(DeliveryServiceTest, CustomHeadersGoOutWithEveryAttemptAndAreShownMasked) {
  std::atomic<int> calls{0};
  HttpsReceiver receiver([&](const httplib::Request&, httplib::Response& res) {
    res.status = ++calls == 1 ? 503 : 200;
  });
  Start({"--retry-speedup", "1000"});
  const auto [webhook, secret] = CreateWebhook(receiver.Url());
  auto r = server_->Call("PATCH", "/api/v1/webhooks/" + webhook, admin_,
                         R"({"headers":{"X-Gateway-Key":"gk-live-5521","X-Tenant":"acme eu"}})");
  ASSERT_EQ(r.status, 200) << r.raw;
  const std::string delivery = Ingest("evt-h");
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(delivery, "succeeded"); })) << Diagnose();
  const auto requests = receiver.Requests();
  ASSERT_EQ(requests.size(), 2u);
  for (const auto& req : requests) {
    EXPECT_EQ(req.Header("X-Gateway-Key"), "gk-live-5521");
    EXPECT_EQ(req.Header("X-Tenant"), "acme eu");
    EXPECT_EQ(req.Header("webhook-id"), "evt-h");
    EXPECT_FALSE(req.Header("webhook-signature").empty());
  }
  const Json d = Delivery(delivery);
  ASSERT_EQ(d["attempts"].size(), 2u);
  EXPECT_EQ(d.dump().find("gk-live-5521"), std::string::npos) << d.dump(1);
  bool masked = false;
  for (const auto& h : d["attempts"][1]["request_headers"]) {
    if (h[0] == "X-Gateway-Key") masked = h[1] == "********";
  }
  EXPECT_TRUE(masked) << d["attempts"][1]["request_headers"].dump();
  EXPECT_EQ(server_->Stop(), 0);
  EXPECT_EQ(server_->Log().find("gk-live-5521"), std::string::npos);
}

// A delivery that failed and waits for its retry is cancelled: the retry never comes. The proof
// is an event ingested once the retry was due, which the receiver gets alone (deliveries are
// leased oldest due first, so a live retry would have gone out before it).
TEST_F(DeliveryServiceTest, CancelStopsARetryingDelivery) {
  HttpsReceiver receiver([&](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("down", "text/plain");
  });
  Start({"--retry-speedup", "2"});  // the first retry 2-3 s after the first attempt
  const auto [webhook, secret] = CreateWebhook(receiver.Url());
  const std::string delivery = Ingest("evt-1");
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(delivery, "failed"); })) << Diagnose();
  const auto due = ParseTimestamp(Delivery(delivery).value("next_attempt_at", ""));
  ASSERT_TRUE(due);
  auto r = server_->Call("POST", "/api/v1/deliveries/" + delivery + "/cancel", admin_);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["status"], "cancelled");
  EXPECT_EQ(Delivery(delivery)["status"], "cancelled");
  r = server_->Call("POST", "/api/v1/deliveries/" + delivery + "/cancel", admin_);
  EXPECT_EQ(r.status, 409) << r.raw;
  EXPECT_EQ(server_->Call("POST", "/api/v1/deliveries/dl_nope/cancel", admin_).status, 404);
  auto audit = server_->Call("GET", "/api/v1/audit", admin_);
  EXPECT_EQ(audit.body["data"][0]["action"], "delivery.cancel");
  EXPECT_EQ(audit.body["data"][0]["target_id"], delivery);

  const auto now_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  ASSERT_TRUE(WaitUntil([&] { return now_ms() > *due + 100; }, std::chrono::seconds(10)));
  const std::string later = Ingest("evt-2");
  ASSERT_TRUE(WaitUntil([&] { return Delivery(later)["attempts"].size() == 1u; })) << Diagnose();
  std::vector<std::string> ids;
  for (const auto& req : receiver.Requests()) ids.push_back(req.Header("webhook-id"));
  EXPECT_EQ(ids, (std::vector<std::string>{"evt-1", "evt-2"}));
  const Json d = Delivery(delivery);
  EXPECT_EQ(d["status"], "cancelled");
  EXPECT_EQ(d["attempts"].size(), 1u);
  // Listed as cancelled.
  auto list =
      server_->Call("GET", "/api/v1/webhooks/" + webhook + "/deliveries?status=cancelled", admin_);
  ASSERT_EQ(list.body["data"].size(), 1u);
  EXPECT_EQ(list.body["data"][0]["id"], delivery);
}

// A rate limit of 5 a second holds over 50 deliveries queued at once: the receiver sees them
// start no faster (49 intervals of 200 ms), while the engine would otherwise send them in a
// fraction of a second.
TEST_F(DeliveryServiceTest, ARateLimitHoldsOverFiftyDeliveries) {
  HttpsReceiver receiver;
  Start({"--workers", "0"});
  const auto [webhook, secret] = CreateWebhook(receiver.Url());
  auto r = server_->Call("PATCH", "/api/v1/webhooks/" + webhook, admin_,
                         R"({"rate_limit_per_second":5})");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["rate_limit_per_second"], 5);
  std::vector<std::string> deliveries;
  for (int i = 0; i < 50; ++i) deliveries.push_back(Ingest("rl-" + std::to_string(i)));
  EXPECT_EQ(server_->Stop(), 0);
  Start();
  ASSERT_TRUE(WaitUntil([&] { return receiver.Count() >= 50; }, std::chrono::seconds(40)))
      << Diagnose();
  const auto requests = receiver.Requests();
  const auto spread = requests.back().at - requests.front().at;
  EXPECT_GE(spread, std::chrono::milliseconds(49 * 200 - 100)) << "sent faster than 5 a second";
  EXPECT_LE(spread, std::chrono::milliseconds(49 * 200 + 5000)) << "far slower than the limit";
  // Invalid limits are refused with the field named.
  r = server_->Call("PATCH", "/api/v1/webhooks/" + webhook, admin_,
                    R"({"rate_limit_per_second":0})");
  EXPECT_EQ(r.status, 422);
}

// A webhook's backlog, queued while nothing was sent, is cancelled in one call; the next run
// sends only what came after.
TEST_F(DeliveryServiceTest, CancelPendingDropsAWebhooksBacklog) {
  HttpsReceiver receiver;
  Start({"--workers", "0"});
  const auto [webhook, secret] = CreateWebhook(receiver.Url());
  for (const char* id : {"old-1", "old-2", "old-3"}) Ingest(id);
  auto r = server_->Call("POST", "/api/v1/webhooks/" + webhook + "/cancel-pending", admin_);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["cancelled"], 3);
  EXPECT_EQ(server_->Call("POST", "/api/v1/webhooks/" + webhook + "/cancel-pending", admin_)
                .body["cancelled"],
            0);
  EXPECT_EQ(server_->Call("POST", "/api/v1/webhooks/wh_nope/cancel-pending", admin_).status, 404);
  EXPECT_EQ(server_->Call("GET", "/api/v1/audit", admin_).body["data"][1]["after"]["cancelled"], 3);
  EXPECT_EQ(server_->Stop(), 0);
  Start();
  const std::string fresh = Ingest("new-1");
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(fresh, "succeeded"); })) << Diagnose();
  ASSERT_EQ(receiver.Count(), 1u);
  EXPECT_EQ(receiver.Requests()[0].Header("webhook-id"), "new-1");
}

// --workers 0 accepts and queues events but sends nothing; the queue survives a restart and a
// webhookd with workers delivers it.
TEST_F(DeliveryServiceTest, WithoutWorkersEventsWaitInTheQueueForTheNextRun) {
  HttpsReceiver receiver;
  Start({"--workers", "0"});
  CreateWebhook(receiver.Url());
  const std::string delivery = Ingest("evt-1");
  EXPECT_TRUE(DeliveryIs(delivery, "pending"));
  EXPECT_NE(server_->Log().find("--workers 0"), std::string::npos) << server_->Log();
  EXPECT_EQ(server_->Stop(), 0);
  EXPECT_EQ(receiver.Count(), 0u);
  Start();
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(delivery, "succeeded"); }));
  EXPECT_EQ(receiver.Count(), 1u);
}

// Statistics are what was sent: after a restart (with no workers, so nothing more is sent while
// the test reads), the hourly figures and the list's 24-hour summary count every recorded attempt
// by outcome, and their p50/p95 lie within the histogram's 10% of the true durations.
TEST_F(DeliveryServiceTest, StatsMatchTheAttemptsMadeAfterARestart) {
  HttpsReceiver receiver([](const httplib::Request& req, httplib::Response& res) {
    const int n = std::stoi(req.get_header_value("webhook-id").substr(4));  // "evt-N"
    // A receiver that takes its time: 0 to 160 ms, and fails one request in three.
    std::this_thread::sleep_for(std::chrono::milliseconds(40 * (n % 5)));
    res.status = n % 3 == 0 ? 500 : 200;
  });
  Start();
  const auto [webhook, secret] = CreateWebhook(receiver.Url());
  std::vector<std::string> deliveries;
  for (int i = 0; i < 15; ++i) deliveries.push_back(Ingest("evt-" + std::to_string(i)));
  ASSERT_TRUE(WaitUntil([&] {
    return std::all_of(deliveries.begin(), deliveries.end(), [&](const std::string& d) {
      return Delivery(d).value("attempt_count", 0) >= 1;
    });
  })) << Diagnose();
  ASSERT_EQ(server_->Stop(), 0);
  Start({"--workers", "0"});

  int64_t succeeded = 0, failed = 0;
  std::vector<int64_t> durations;
  for (const std::string& d : deliveries) {
    const Json delivery = Delivery(d);
    for (const Json& a : delivery["attempts"]) {
      const int status = a["http_status"].is_number() ? a["http_status"].get<int>() : 0;
      (status >= 200 && status < 300 ? succeeded : failed) += 1;
      durations.push_back(a["duration_ms"].get<int64_t>());
    }
  }
  ASSERT_EQ(succeeded, 10);  // evt-1, 2, 4, 5, 7, 8, 10, 11, 13, 14
  ASSERT_GE(failed, 5);      // and their retries, if any were due before the stop
  std::sort(durations.begin(), durations.end());
  // Nearest rank, as the server reads its histogram.
  const auto rank = [&](double q) {
    const auto r = static_cast<size_t>(std::ceil(q * static_cast<double>(durations.size())));
    return durations[std::max<size_t>(r, 1) - 1];
  };
  const auto stats = server_->Call("GET", "/api/v1/webhooks/" + webhook + "/stats", admin_);
  ASSERT_EQ(stats.status, 200) << stats.raw;
  const Json& totals = stats.body["totals"];
  EXPECT_EQ(totals["succeeded"], succeeded);
  EXPECT_EQ(totals["failed"], failed);
  for (const auto& [field, q] : {std::pair{"p50_ms", 0.5}, std::pair{"p95_ms", 0.95}}) {
    const int64_t truth = rank(q), told = totals[field].get<int64_t>();
    EXPECT_GE(told, truth) << field;
    EXPECT_LE(told, std::max(truth + 1, truth + truth / 10)) << field;
  }
  ASSERT_EQ(stats.body["buckets"].size(), 24u);
  int64_t in_buckets = 0;
  for (const Json& b : stats.body["buckets"]) {
    in_buckets += b["succeeded"].get<int64_t>() + b["failed"].get<int64_t>();
  }
  EXPECT_EQ(in_buckets, succeeded + failed);
  const auto week =
      server_->Call("GET", "/api/v1/webhooks/" + webhook + "/stats?window=7d", admin_);
  ASSERT_EQ(week.status, 200);
  EXPECT_EQ(week.body["buckets"].size(), 168u);
  EXPECT_EQ(week.body["totals"], totals);
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks/" + webhook + "/stats?window=1y", admin_).status,
            422);
  const auto list = server_->Call("GET", "/api/v1/webhooks", admin_);
  ASSERT_EQ(list.body["data"].size(), 1u);
  Json summary = list.body["data"][0]["stats_24h"];
  int64_t hourly = 0;
  for (const char* field : {"hourly_succeeded", "hourly_failed"}) {
    ASSERT_EQ(summary[field].size(), 24u);
    for (const Json& n : summary[field]) hourly += n.get<int64_t>();
    summary.erase(field);
  }
  EXPECT_EQ(hourly, succeeded + failed);
  EXPECT_EQ(summary, totals);
  const Json& last = list.body["data"][0]["last_delivery"];
  EXPECT_EQ(last["id"], deliveries.back()) << "the newest";
  EXPECT_EQ(last["event_id"], "evt-14");

  // The deliveries of the chart's hours: attempted in them.
  const std::string last_hour = stats.body["buckets"].back()["start"];
  const auto hour =
      server_->Call("GET",
                    "/api/v1/webhooks/" + webhook + "/deliveries?attempted_since=" + last_hour +
                        "&attempted_until=2999-01-01T00:00:00Z&limit=200",
                    admin_);
  ASSERT_EQ(hour.status, 200) << hour.raw;
  EXPECT_GE(hour.body["data"].size(), 1u);
  EXPECT_EQ(
      server_
          ->Call("GET", "/api/v1/webhooks/" + webhook + "/deliveries?attempted_since=" + last_hour,
                 admin_)
          .status,
      422);
}

TEST_F(DeliveryServiceTest, RedirectsAreFailuresAndNeverFollowed) {
  HttpsReceiver target;
  HttpsReceiver redirecting([&](const httplib::Request&, httplib::Response& res) {
    res.set_redirect(target.Url("/elsewhere"), 301);
  });
  Start();
  CreateWebhook(redirecting.Url());
  const std::string delivery = Ingest("evt-1");
  ASSERT_TRUE(WaitUntil([&] { return Delivery(delivery).value("attempt_count", 0) >= 1; }));
  const Json d = Delivery(delivery);
  EXPECT_EQ(d["status"], "failed");
  EXPECT_EQ(d["attempts"][0]["http_status"], 301);
  EXPECT_EQ(target.Count(), 0u);
}

TEST_F(DeliveryServiceTest, ResendTestEventAndRecover) {
  std::atomic<bool> healthy{false};
  HttpsReceiver receiver(
      [&](const httplib::Request&, httplib::Response& res) { res.status = healthy ? 200 : 503; });
  Start();
  const auto [webhook, secret] = CreateWebhook(receiver.Url());
  // Exhaust quickly: disable the webhook? No: use resend on a failed delivery instead.
  const std::string first = Ingest("evt-1");
  ASSERT_TRUE(WaitUntil([&] { return Delivery(first).value("attempt_count", 0) >= 1; }));
  healthy = true;
  auto resend = server_->Call("POST", "/api/v1/deliveries/" + first + "/resend", admin_, "");
  EXPECT_EQ(resend.status, 202) << resend.raw;
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(first, "succeeded"); }));
  EXPECT_EQ(Delivery(first)["attempts"].size(), 2u);
  // Resending a delivered message sends it again (a person asked for it).
  EXPECT_EQ(server_->Call("POST", "/api/v1/deliveries/" + first + "/resend", admin_, "").status,
            202);
  ASSERT_TRUE(WaitUntil([&] { return Delivery(first)["attempts"].size() == 3; }));
  EXPECT_EQ(server_->Call("POST", "/api/v1/deliveries/dlv_nope/resend", admin_, "").status, 404);

  auto test = server_->Call("POST", "/api/v1/webhooks/" + webhook + "/test", admin_, "");
  ASSERT_EQ(test.status, 202) << test.raw;
  const std::string test_delivery = test.body["deliveries"][0];
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(test_delivery, "succeeded"); }));
  EXPECT_EQ(Delivery(test_delivery)["event_type"], "webhook.test");

  healthy = false;
  const std::string second = Ingest("evt-2");
  ASSERT_TRUE(WaitUntil([&] { return Delivery(second).value("attempt_count", 0) >= 1; }));
  healthy = true;
  auto bad = server_->Call("POST", "/api/v1/webhooks/" + webhook + "/recover", admin_,
                           R"({"since":"yesterday"})");
  EXPECT_EQ(bad.status, 422);
  auto recover = server_->Call("POST", "/api/v1/webhooks/" + webhook + "/recover", admin_,
                               R"({"since":"2020-01-01T00:00:00Z"})");
  ASSERT_EQ(recover.status, 202) << recover.raw;
  EXPECT_EQ(recover.body["requeued"], 1);
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(second, "succeeded"); }));
}

TEST_F(DeliveryServiceTest, GoneDisablesTheWebhookAndTheApiSaysWhy) {
  HttpsReceiver receiver([](const httplib::Request&, httplib::Response& res) { res.status = 410; });
  Start();
  const auto [webhook, secret] = CreateWebhook(receiver.Url());
  const std::string delivery = Ingest("evt-1");
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(delivery, "exhausted"); }));
  const Json w = server_->Call("GET", "/api/v1/webhooks/" + webhook, admin_).body;
  EXPECT_EQ(w["active"], false);
  EXPECT_NE(w["disabled_reason"].get<std::string>().find("410"), std::string::npos);
  // Inactive: a new event queues nothing for it.
  auto r = server_->Call("POST", "/api/v1/events", ingest_, EventBody("device.enroll"));
  EXPECT_TRUE(r.body["deliveries"].empty());
  // Re-enabling clears the reason.
  auto patch = server_->Call("PATCH", "/api/v1/webhooks/" + webhook, admin_, R"({"active":true})");
  EXPECT_TRUE(patch.body["disabled_reason"].is_null());
}

// Operational notices: a 410 endpoint's webhook is disabled, and the team's webhook that asked
// for webhook.disabled gets exactly one notice, signed with its own secret; the disabled one,
// though subscribed too, gets none about itself. The notice is in the event log and audited.
TEST_F(DeliveryServiceTest, A410ProducesOneDisabledNoticeAtTheSubscribersAndNoneAtItself) {
  HttpsReceiver gone([](const httplib::Request&, httplib::Response& res) { res.status = 410; });
  HttpsReceiver ops;
  Start({"--notice-check-ms", "100", "--per-endpoint-concurrency", "4"});
  const auto [dead, dead_secret] =
      CreateWebhook(gone.Url(), R"(["device.enroll","webhook.disabled"])");
  const auto [watcher, watcher_secret] =
      CreateWebhook(ops.Url(), R"(["webhook.disabled","webhook.recovered"])");
  // Several in flight at once: several 410s, one disable, one notice.
  std::vector<std::string> deliveries;
  for (int i = 0; i < 4; ++i) {
    // Once the first 410 has disabled it, an event queues nothing for it.
    if (std::string d = Ingest("evt-gone-" + std::to_string(i)); !d.empty()) {
      deliveries.push_back(d);
    }
  }
  ASSERT_TRUE(ops.WaitForCount(1)) << Diagnose();
  const auto req = ops.Requests()[0];
  const Json body = Json::parse(req.body);
  EXPECT_EQ(body["type"], "webhook.disabled");
  EXPECT_EQ(body["data"]["webhook"]["id"], dead);
  EXPECT_NE(body["data"]["reason"].get<std::string>().find("410"), std::string::npos);
  EXPECT_EQ(body["data"]["by"], "system");
  const auto verified =
      delivery::Verify(watcher_secret, req.Header("webhook-id"), req.Header("webhook-timestamp"),
                       req.body, req.Header("webhook-signature"), std::time(nullptr));
  EXPECT_TRUE(verified.ok) << verified.error;
  // Every 410 answered before the check finds the webhook disabled once: one event, one
  // delivery, to the watcher only.
  for (const std::string& d : deliveries) {
    // Exhausted by its 410, or waiting behind the disable: none still being sent.
    ASSERT_TRUE(WaitUntil([&] {
      const std::string s = Delivery(d).value("status", "");
      return !s.empty() && s != "in_flight";
    })) << Delivery(d).dump();
  }
  auto log = server_->Call("GET", "/api/v1/events?type=webhook.disabled", admin_);
  ASSERT_EQ(log.status, 200) << log.raw;
  ASSERT_EQ(log.body["data"].size(), 1u) << log.raw;
  auto event = server_->Call(
      "GET", "/api/v1/events/" + log.body["data"][0]["id"].get<std::string>(), admin_);
  ASSERT_EQ(event.body["deliveries"].size(), 1u) << event.raw;
  EXPECT_EQ(event.body["deliveries"][0]["webhook_id"], watcher);
  for (const auto& r : gone.Requests()) {
    EXPECT_EQ(r.body.find("webhook.disabled"), std::string::npos) << "a notice about itself";
  }
  auto audit = server_->Call("GET", "/api/v1/audit", admin_);
  bool audited = false;
  for (const Json& a : audit.body["data"]) audited |= a["action"] == "webhook.disabled";
  EXPECT_TRUE(audited) << audit.raw;
  // Switched on and off by a person: one more notice, saying who. (Its backlog is cancelled
  // first: sent, it would meet the 410 again.)
  ASSERT_EQ(
      server_->Call("POST", "/api/v1/webhooks/" + dead + "/cancel-pending", admin_, "").status,
      200);
  ASSERT_EQ(server_->Call("PATCH", "/api/v1/webhooks/" + dead, admin_, R"({"active":true})").status,
            200);
  ASSERT_EQ(
      server_->Call("PATCH", "/api/v1/webhooks/" + dead, admin_, R"({"active":false})").status,
      200);
  ASSERT_TRUE(ops.WaitForCount(2)) << Diagnose();
  const Json by_person = Json::parse(ops.Requests()[1].body);
  EXPECT_EQ(by_person["type"], "webhook.disabled");
  EXPECT_EQ(by_person["data"]["by"].get<std::string>().rfind("tok_", 0), 0u) << by_person;
}

// A webhook failing for half the auto-disable period is announced as failing; its first
// success after that is announced as recovered.
TEST_F(DeliveryServiceTest, FailingThenSucceedingProducesFailingAndRecoveredNotices) {
  std::atomic<bool> healthy{false};
  HttpsReceiver flaky(
      [&](const httplib::Request&, httplib::Response& res) { res.status = healthy ? 200 : 503; });
  HttpsReceiver ops;
  // Retries in microseconds; failing after 1 s (half of 2 s), disabled only at the minute's
  // auto-disable check, well after this test.
  Start({"--notice-check-ms", "100", "--retry-speedup", "1000000", "--auto-disable-after-ms",
         "2000"});
  const auto [subject, subject_secret] = CreateWebhook(flaky.Url());
  const auto [watcher, watcher_secret] =
      CreateWebhook(ops.Url(), R"(["webhook.failing","webhook.recovered"])");
  const std::string failed = Ingest("evt-fails");
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(failed, "exhausted"); })) << Diagnose();
  ASSERT_TRUE(ops.WaitForCount(1)) << Diagnose();
  const Json failing = Json::parse(ops.Requests()[0].body);
  EXPECT_EQ(failing["type"], "webhook.failing");
  EXPECT_EQ(failing["data"]["webhook"]["id"], subject);
  EXPECT_TRUE(failing["data"]["failing_since"].is_string());
  healthy = true;
  const std::string fine = Ingest("evt-fine");
  ASSERT_TRUE(WaitUntil([&] { return DeliveryIs(fine, "succeeded"); })) << Diagnose();
  ASSERT_TRUE(ops.WaitForCount(2)) << Diagnose();
  const Json recovered = Json::parse(ops.Requests()[1].body);
  EXPECT_EQ(recovered["type"], "webhook.recovered");
  EXPECT_EQ(recovered["data"]["webhook"]["id"], subject);
  EXPECT_EQ(ops.Requests().size(), 2u) << "each once";
}

TEST_F(DeliveryServiceTest, AHangingReceiverTimesOutWithACause) {
  HttpsReceiver* self = nullptr;
  HttpsReceiver hanging([&](const httplib::Request&, httplib::Response&) { self->Hang(); });
  self = &hanging;
  Start({"--request-timeout-ms", "500"});
  CreateWebhook(hanging.Url());
  const std::string delivery = Ingest("evt-1");
  ASSERT_TRUE(WaitUntil([&] { return Delivery(delivery).value("attempt_count", 0) >= 1; }));
  EXPECT_EQ(Delivery(delivery)["attempts"][0]["cause"], "timeout");
  hanging.Release();
}

TEST_F(DeliveryServiceTest, AReceiverThatClosesTheConnectionIsAFailureWithACause) {
  // Headers promise 100 bytes, then the connection is dropped before any arrive.
  HttpsReceiver receiver([](const httplib::Request&, httplib::Response& res) {
    res.set_content_provider(100, "text/plain",
                             [](size_t, size_t, httplib::DataSink&) { return false; });
  });
  Start();
  CreateWebhook(receiver.Url());
  const std::string delivery = Ingest("evt-1");
  ASSERT_TRUE(WaitUntil([&] { return Delivery(delivery).value("attempt_count", 0) >= 1; }));
  const Json d = Delivery(delivery);
  EXPECT_EQ(d["status"], "failed");
  EXPECT_EQ(d["attempts"][0]["cause"], "connection_closed") << d.dump();
  EXPECT_FALSE(d["attempts"][0]["error"].get<std::string>().empty());
}

// Retention end to end: a delivery that finished 31 days ago (its times moved back in the
// database while webhookd was stopped) is deleted, with its event, by the retention thread when
// webhookd starts again; one that finished now stays.
TEST_F(DeliveryServiceTest, RetentionDeletesWhatFinishedLongAgo) {
  HttpsReceiver receiver;
  Start();
  CreateWebhook(receiver.Url());
  const std::string old_one = Ingest("old");
  const std::string new_one = Ingest("new");
  ASSERT_TRUE(WaitUntil(
      [&] { return DeliveryIs(old_one, "succeeded") && DeliveryIs(new_one, "succeeded"); }));
  EXPECT_EQ(server_->Stop(SIGTERM), 0);
  {
    store::Db db(dir_.path() + "/webhookd.db", false);
    const int64_t ago =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch() - std::chrono::hours(24 * 31))
            .count();
    store::Query(db, "UPDATE deliveries SET created_at = ?1, updated_at = ?1 WHERE id = ?2")
        .Bind(1, ago)
        .Bind(2, old_one)
        .Run();
    store::Query(db, "UPDATE events SET timestamp = ? WHERE id = 'old'").Bind(1, ago).Run();
  }
  Start();  // --retention-days 30, the default
  EXPECT_TRUE(WaitUntil(
      [&] { return server_->Call("GET", "/api/v1/deliveries/" + old_one, admin_).status == 404; }));
  EXPECT_TRUE(DeliveryIs(new_one, "succeeded"));
  // The event went with it: its id is new again.
  EXPECT_FALSE(Ingest("old").empty());
}

// SIGKILL while thousands of deliveries are queued and some are in flight; after a restart every
// event must reach the receiver at least once. Duplicates are allowed (at-least-once) and
// reported. The receiver answers the first kAnswered requests, then holds every request open
// until it is released, so the kill always lands with kWorkers sends in flight and the rest of
// the 2,000 still queued, however fast the machine is.
TEST_F(DeliveryServiceTest, CrashWithThousandsInFlightLosesNothing) {
  constexpr int kEvents = 2000, kAnswered = 600, kWorkers = 16;
  std::mutex mu;
  std::map<std::string, int> seen;  // webhook-id -> times received
  std::vector<std::string> held;    // webhook-ids of the requests held open
  int received = 0;
  HttpsReceiver* self = nullptr;
  std::atomic<bool> hold{true};
  HttpsReceiver receiver([&](const httplib::Request& req, httplib::Response& res) {
    bool hang;
    {
      // Numbered here, under the lock that counts it: the first kAnswered are answered, later
      // ones held. (Count() read after the receiver recorded this request can include later
      // ones already: request 600 was then held too, all 16 receiver threads hung with 615
      // requests received, and the wait for 616 below timed out.)
      std::lock_guard lock(mu);
      const std::string id = req.get_header_value("webhook-id");
      ++seen[id];
      hang = hold && ++received > kAnswered;
      if (hang) held.push_back(id);
    }
    if (hang) self->Hang();
    res.set_content("ok", "text/plain");
  });
  self = &receiver;
  // The held requests must still be open at the kill however slow the ingest is (under a loaded
  // ctest -j3 it took over the 15 s default timeout: a held send then failed, was recorded and
  // was not a duplicate).
  const std::vector<std::string> flags{"--workers",
                                       std::to_string(kWorkers),
                                       "--per-endpoint-concurrency",
                                       std::to_string(kWorkers),
                                       "--per-team-concurrency",
                                       std::to_string(kWorkers),
                                       "--request-timeout-ms",
                                       "600000"};
  Start(flags);
  CreateWebhook(receiver.Url());
  // Ingest from 4 threads: every 202 means stored durably.
  std::atomic<int> accepted{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      auto cli = server_->Client();
      for (int i = t; i < kEvents; i += 4) {
        const std::string body = EventBody("device.enroll", "e" + std::to_string(i));
        auto r = cli.Post("/api/v1/events", {{"Authorization", "Bearer " + ingest_}}, body,
                          "application/json");
        if (r && r->status == 202) ++accepted;
      }
    });
  }
  for (auto& p : producers) p.join();
  ASSERT_EQ(accepted.load(), kEvents);
  // kAnswered delivered, kWorkers held open in flight, the rest queued: now kill.
  ASSERT_TRUE(receiver.WaitForCount(kAnswered + kWorkers))
      << "received " << receiver.Count() << " of " << kAnswered + kWorkers << "\n"
      << Diagnose();
  EXPECT_EQ(server_->Stop(SIGKILL), 128 + SIGKILL);
  const size_t before_restart = receiver.Count();
  EXPECT_GE(before_restart, static_cast<size_t>(kAnswered + kWorkers));
  EXPECT_LT(before_restart, static_cast<size_t>(kEvents / 2));  // most still queued
  hold = false;
  receiver.Release();  // the held requests end (their sender is gone); new ones are answered

  Start(flags);
  // Every event, and the held ones again. Waiting for all events alone raced: the reclaimed
  // deliveries are due from the restart, after the whole pending backlog, so the last new event
  // could arrive before the last resend (1 run in 9 under load counted 15 duplicates).
  EXPECT_TRUE(WaitUntil(
      [&] {
        std::lock_guard lock(mu);
        if (seen.size() != static_cast<size_t>(kEvents)) return false;
        for (const auto& id : held) {
          if (seen[id] < 2) return false;
        }
        return true;
      },
      std::chrono::seconds(120)))
      << Diagnose();
  std::lock_guard lock(mu);
  int duplicates = 0;
  for (const auto& [id, n] : seen) duplicates += n - 1;
  EXPECT_EQ(seen.size(), static_cast<size_t>(kEvents)) << "events never delivered";
  // The kWorkers held in flight were never answered: they must come again (at least once).
  EXPECT_GE(duplicates, kWorkers);
  std::printf(
      "crash test: %d events, %zu received before SIGKILL (%d in flight), %d duplicates "
      "after restart\n",
      kEvents, before_restart, kWorkers, duplicates);
  RecordProperty("duplicates", duplicates);
  EXPECT_NE(server_->Log().find("reclaimed"), std::string::npos);
}

}  // namespace
}  // namespace mambo::testing
