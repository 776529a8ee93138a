// HttpSender against real HTTPS servers on 127.0.0.1 (port 0; tests/backend/support), with a
// self-signed certificate generated at test time. No sleeps: servers are ready once bound (the
// kernel queues connections before accept), hanging handlers block on a condition variable that the
// test releases.
#include "delivery/http_sender.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "delivery/signature.h"
#include "support/fake_dns.h"
#include "support/tls_server.h"

namespace mambo::delivery {
namespace {

using testing::FakeDns;
using testing::TestCert;
using TestServer = testing::TlsServer;

std::vector<Cidr> AllowLoopback() {
  return ParseCidrList("127.0.0.0/8,::1/128").cidrs;
}

HttpSenderOptions TrustingTestCa() {
  HttpSenderOptions o;
  o.extra_ca_file = TestCert::Get().cert;
  return o;
}

class HttpSenderTest : public ::testing::Test {
 protected:
  ManualClock clock_{1'700'000'000'000};
  std::mutex drip_mutex_;  // pacing of the slow-drip receiver; outlives the server
  std::condition_variable drip_cv_;
  std::atomic<bool> stop_drip_{false};
  TestServer server_;  // declared before the senders: they close their connections first
  AddressGuard allow_loopback_{AllowLoopback()};
};

TEST_F(HttpSenderTest, Ok200RecordsStatusHeadersAndBody) {
  std::string seen_body, seen_type, seen_query, seen_host;
  server_.svr().Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    seen_body = req.body;
    seen_type = req.get_header_value("Content-Type");
    seen_query = req.get_param_value("x");
    seen_host = req.get_header_value("Host");
    res.set_header("X-Receiver", "yes");
    res.set_content("thanks", "text/plain");
  });
  server_.Start();
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  auto r = sender.Post(server_.Url("/hook?x=1"), {{"webhook-id", "msg_1"}}, R"({"a":1})");
  const auto& a = r.attempt;
  EXPECT_TRUE(r.succeeded()) << a.error;
  EXPECT_EQ(a.cause, FailureCause::kNone);
  EXPECT_EQ(a.http_status, 200);
  EXPECT_EQ(a.started_at, clock_.NowMs());
  EXPECT_GE(a.duration_ms, 0);
  EXPECT_EQ(a.response_excerpt, "thanks");
  EXPECT_FALSE(a.response_truncated);
  EXPECT_EQ(HeaderValue(a.response_headers, "x-receiver"), "yes");
  EXPECT_EQ(HeaderValue(a.request_headers, "webhook-id"), "msg_1");
  EXPECT_EQ(HeaderValue(a.request_headers, "Content-Type"), "application/json");
  EXPECT_EQ(HeaderValue(a.request_headers, "User-Agent"), "mambo-webhooks/0.1.0");
  EXPECT_EQ(HeaderValue(a.request_headers, "Host"), "127.0.0.1:" + std::to_string(server_.port()));
  EXPECT_EQ(HeaderValue(a.request_headers, "Content-Length"), "7");
  EXPECT_EQ(r.remote_address, "127.0.0.1");
  EXPECT_EQ(seen_body, R"({"a":1})");
  EXPECT_EQ(seen_type, "application/json");
  EXPECT_EQ(seen_query, "1");
  EXPECT_EQ(seen_host, "127.0.0.1:" + std::to_string(server_.port()));
}

TEST_F(HttpSenderTest, Status500IsRecordedAsHttpStatus) {
  server_.svr().Post("/hook", [](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("boom", "text/plain");
  });
  server_.Start();
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  auto r = sender.Post(server_.Url("/hook"), {}, "{}");
  EXPECT_FALSE(r.succeeded());
  EXPECT_EQ(r.attempt.cause, FailureCause::kHttpStatus);
  EXPECT_EQ(r.attempt.http_status, 500);
  EXPECT_EQ(r.attempt.response_excerpt, "boom");
  EXPECT_EQ(r.attempt.error, "receiver answered HTTP 500");
}

TEST_F(HttpSenderTest, RedirectIsNotFollowed) {
  std::atomic<int> other_hits{0};
  server_.svr().Post("/hook", [&](const httplib::Request&, httplib::Response& res) {
    res.status = 301;
    res.set_header("Location", server_.Url("/other"));
  });
  server_.svr().Post("/other", [&](const httplib::Request&, httplib::Response&) { ++other_hits; });
  server_.svr().Get("/other", [&](const httplib::Request&, httplib::Response&) { ++other_hits; });
  server_.Start();
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  auto r = sender.Post(server_.Url("/hook"), {}, "{}");
  EXPECT_EQ(r.attempt.cause, FailureCause::kHttpStatus);
  EXPECT_EQ(r.attempt.http_status, 301);
  EXPECT_NE(r.attempt.error.find("not followed"), std::string::npos) << r.attempt.error;
  EXPECT_NE(r.attempt.error.find(server_.Url("/other")), std::string::npos) << r.attempt.error;
  EXPECT_EQ(other_hits.load(), 0);
}

TEST_F(HttpSenderTest, HangingReceiverTimesOut) {
  server_.svr().Post("/hang", [&](const httplib::Request&, httplib::Response& res) {
    server_.Hang();
    res.set_content("late", "text/plain");
  });
  server_.Start();
  auto options = TrustingTestCa();
  options.request_timeout_ms = 300;
  HttpSender sender(options, allow_loopback_, clock_);
  auto r = sender.Post(server_.Url("/hang"), {}, "{}");
  EXPECT_EQ(r.attempt.cause, FailureCause::kTimeout) << r.attempt.error;
  EXPECT_FALSE(r.attempt.http_status.has_value());
  EXPECT_GE(r.attempt.duration_ms, 290);
  EXPECT_LT(r.attempt.duration_ms, 5000);
  EXPECT_EQ(r.attempt.error, "no complete response from 127.0.0.1:" +
                                 std::to_string(server_.port()) + " within 300 ms");
}

TEST_F(HttpSenderTest, SlowDripBodyHitsTheWholeRequestDeadline) {
  // Each chunk arrives well inside the per-read timeout, so only a whole-request deadline stops
  // a receiver that streams forever.
  server_.svr().Post("/drip", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [&](size_t, httplib::DataSink& sink) {
      sink.write("x", 1);
      std::unique_lock<std::mutex> lock(drip_mutex_);
      drip_cv_.wait_for(lock, std::chrono::milliseconds(50));  // pacing, not synchronisation
      return !stop_drip_.load();
    });
  });
  server_.Start();
  auto options = TrustingTestCa();
  options.request_timeout_ms = 400;
  HttpSender sender(options, allow_loopback_, clock_);
  auto r = sender.Post(server_.Url("/drip"), {}, "{}");
  stop_drip_ = true;
  drip_cv_.notify_all();
  EXPECT_EQ(r.attempt.cause, FailureCause::kTimeout) << r.attempt.error;
  EXPECT_EQ(r.attempt.http_status, 200);
  EXPECT_LT(r.attempt.duration_ms, 3000);
}

TEST_F(HttpSenderTest, ConnectionRefusedIsConnect) {
  // A bound socket that never listens: connections to its port are refused, and no other
  // process can take the port during the test.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  auto r = sender.Post("https://127.0.0.1:" + std::to_string(port) + "/", {}, "{}");
  close(fd);
  EXPECT_EQ(r.attempt.cause, FailureCause::kConnect) << r.attempt.error;
  EXPECT_EQ(r.attempt.error,
            "could not connect to 127.0.0.1:" + std::to_string(port) + " (refused or unreachable)");
}

TEST_F(HttpSenderTest, UntrustedCertificateIsTls) {
  std::atomic<int> hits{0};
  server_.svr().Post("/hook", [&](const httplib::Request&, httplib::Response&) { ++hits; });
  server_.Start();
  HttpSender sender(HttpSenderOptions{}, allow_loopback_, clock_);  // system CAs only
  auto r = sender.Post(server_.Url("/hook"), {}, "{}");
  EXPECT_EQ(r.attempt.cause, FailureCause::kTls) << r.attempt.error;
  EXPECT_NE(r.attempt.error.find("not trusted"), std::string::npos) << r.attempt.error;
  EXPECT_FALSE(r.attempt.http_status.has_value());
  EXPECT_EQ(hits.load(), 0);
}

TEST_F(HttpSenderTest, CertificateForAnotherNameIsTls) {
  server_.svr().Post("/hook", [](const httplib::Request&, httplib::Response&) {});
  server_.Start();
  AddressGuard guard(AllowLoopback(), FakeDns({{"wrong.test", {"127.0.0.1"}}}));
  HttpSender sender(TrustingTestCa(), guard, clock_);
  auto r = sender.Post(server_.Url("/hook", "wrong.test"), {}, "{}");
  EXPECT_EQ(r.attempt.cause, FailureCause::kTls) << r.attempt.error;
}

TEST_F(HttpSenderTest, BlockedAddressNeverConnects) {
  std::atomic<int> hits{0};
  server_.svr().Post("/hook", [&](const httplib::Request&, httplib::Response&) { ++hits; });
  server_.Start();
  AddressGuard strict;  // no allow-list: loopback is refused
  HttpSender sender(TrustingTestCa(), strict, clock_);
  auto r = sender.Post(server_.Url("/hook"), {}, "{}");
  EXPECT_EQ(r.attempt.cause, FailureCause::kBlockedAddress);
  EXPECT_NE(r.attempt.error.find("127.0.0.1 is a loopback address"), std::string::npos)
      << r.attempt.error;
  EXPECT_TRUE(r.remote_address.empty());
  EXPECT_EQ(hits.load(), 0);
}

TEST_F(HttpSenderTest, DnsFailureAndInvalidUrl) {
  AddressGuard guard(AllowLoopback(), FakeDns({}));
  HttpSender sender(TrustingTestCa(), guard, clock_);
  auto dns = sender.Post("https://nowhere.test/hook", {}, "{}");
  EXPECT_EQ(dns.attempt.cause, FailureCause::kDns);
  EXPECT_EQ(dns.attempt.error, "DNS lookup of nowhere.test failed: Name or service not known");
  auto http = sender.Post("http://example.com/hook", {}, "{}");
  EXPECT_EQ(http.attempt.cause, FailureCause::kInvalidUrl);
  EXPECT_EQ(http.attempt.error, "URL must use https");
}

TEST_F(HttpSenderTest, ConnectsToCheckedAddressWithNameForSniHostAndCertificate) {
  // receiver.test exists only in the fake resolver: libcurl can only reach it through the
  // address the guard checked, while Host and certificate verification use the name.
  std::string seen_host;
  server_.svr().Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    seen_host = req.get_header_value("Host");
    res.status = 204;
  });
  server_.Start();
  AddressGuard guard(AllowLoopback(), FakeDns({{"receiver.test", {"127.0.0.1"}}}));
  HttpSender sender(TrustingTestCa(), guard, clock_);
  auto r = sender.Post(server_.Url("/hook", "receiver.test"), {}, "{}");
  EXPECT_TRUE(r.succeeded()) << r.attempt.error;
  EXPECT_EQ(r.attempt.http_status, 204);
  EXPECT_EQ(r.remote_address, "127.0.0.1");
  EXPECT_EQ(seen_host, "receiver.test:" + std::to_string(server_.port()));
}

TEST_F(HttpSenderTest, FallsBackToTheNextCheckedAddress) {
  server_.svr().Post("/hook", [](const httplib::Request&, httplib::Response&) {});
  server_.Start();
  // The server listens on 127.0.0.1 only: ::1 is refused (or unreachable without IPv6).
  AddressGuard guard(AllowLoopback(), FakeDns({{"receiver.test", {"::1", "127.0.0.1"}}}));
  HttpSender sender(TrustingTestCa(), guard, clock_);
  auto r = sender.Post(server_.Url("/hook", "receiver.test"), {}, "{}");
  EXPECT_TRUE(r.succeeded()) << r.attempt.error;
  EXPECT_EQ(r.remote_address, "127.0.0.1");
}

TEST_F(HttpSenderTest, KeepAliveConnectionIsReused) {
  std::vector<int> ports;
  std::mutex m;
  server_.svr().Post("/hook", [&](const httplib::Request& req, httplib::Response&) {
    std::lock_guard<std::mutex> lock(m);
    ports.push_back(req.remote_port);
  });
  server_.Start();
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  auto first = sender.Post(server_.Url("/hook"), {}, "{}");
  EXPECT_TRUE(first.succeeded()) << first.attempt.error;
  EXPECT_FALSE(first.reused_connection);
  EXPECT_EQ(sender.idle_connections(), 1u);
  auto second = sender.Post(server_.Url("/hook"), {}, "{}");
  EXPECT_TRUE(second.succeeded()) << second.attempt.error;
  EXPECT_TRUE(second.reused_connection);
  ASSERT_EQ(ports.size(), 2u);
  EXPECT_EQ(ports[0], ports[1]);  // same TCP connection
}

// Receivers close idle kept-alive connections (often after a few seconds); a send on such a
// pooled connection must go out on a new connection instead of counting as a failed attempt.
// libcurl notices a connection closed before the send, and retries a request on a reused
// connection that died before any answer (the receiver's idle timer firing during the send),
// which this test cannot time deterministically.
TEST_F(HttpSenderTest, IdleConnectionClosedByTheReceiverIsReplacedNotAFailure) {
  std::vector<int> ports;
  std::mutex m;
  server_.svr().set_keep_alive_timeout(0);  // closes each connection right after its response
  server_.svr().Post("/hook", [&](const httplib::Request& req, httplib::Response&) {
    std::lock_guard<std::mutex> lock(m);
    ports.push_back(req.remote_port);
  });
  server_.Start();
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  ASSERT_TRUE(sender.Post(server_.Url("/hook"), {}, "{}").succeeded());
  EXPECT_EQ(sender.idle_connections(), 1u);  // pooled, though the receiver closes it
  auto second = sender.Post(server_.Url("/hook"), {}, "{}");
  EXPECT_TRUE(second.succeeded()) << second.attempt.error;
  ASSERT_EQ(ports.size(), 2u);
  // Normally the receiver has closed by now and the send went out on a new connection; should
  // the old one still have been open, it was reused.
  EXPECT_EQ(second.reused_connection, ports[0] == ports[1]);
}

// --egress-interface: connections leave through the named interface (or from the given
// address); a name that is no interface is a connect failure that says so, not a silent default.
TEST_F(HttpSenderTest, EgressInterfaceIsUsedOrTheAttemptSaysWhyNot) {
  server_.svr().Post("/hook", [](const httplib::Request&, httplib::Response&) {});
  server_.Start();
  auto through_lo = TrustingTestCa();
  through_lo.egress_interface = "lo";
  EXPECT_TRUE(HttpSender(through_lo, allow_loopback_, clock_)
                  .Post(server_.Url("/hook"), {}, "{}")
                  .succeeded());
  auto from_address = TrustingTestCa();
  from_address.egress_interface = "127.0.0.1";
  EXPECT_TRUE(HttpSender(from_address, allow_loopback_, clock_)
                  .Post(server_.Url("/hook"), {}, "{}")
                  .succeeded());
  auto missing = TrustingTestCa();
  missing.egress_interface = "nosuchif0";
  auto r = HttpSender(missing, allow_loopback_, clock_).Post(server_.Url("/hook"), {}, "{}");
  EXPECT_EQ(r.attempt.cause, FailureCause::kConnect) << r.attempt.error;
  EXPECT_EQ(r.attempt.error, "could not bind to egress interface \"nosuchif0\"");
}

TEST_F(HttpSenderTest, ConcurrentPostsFromManyThreads) {
  std::atomic<int> hits{0};
  server_.svr().Post("/hook", [&](const httplib::Request&, httplib::Response&) { ++hits; });
  server_.Start();
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) ok += sender.Post(server_.Url("/hook"), {}, "{}").succeeded();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(hits.load(), 20);
  EXPECT_LE(sender.idle_connections(), 4u);
}

// All requests share one event loop; a name whose lookup hangs must not hold up the others
// (lookups missing from the cache run on the sender's resolver threads).
TEST_F(HttpSenderTest, ASlowLookupDelaysOnlyItsOwnRequests) {
  std::atomic<int> hits{0};
  server_.svr().Post("/hook", [&](const httplib::Request&, httplib::Response&) { ++hits; });
  server_.Start();
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  auto slow_dns = [&](const std::string& host, uint16_t port) {
    if (host == "localhost") {
      std::unique_lock lock(m);
      cv.wait(lock, [&] { return release; });
    }
    return FakeDns({{"localhost", {"127.0.0.1"}}, {"receiver.test", {"127.0.0.1"}}})(host, port);
  };
  AddressGuard guard(AllowLoopback(), slow_dns);
  HttpSender sender(TrustingTestCa(), guard, clock_);
  std::promise<SendResult> slow;
  sender.PostAsync(server_.Url("/hook", "localhost"), {}, "{}",
                   [&](SendResult r) { slow.set_value(std::move(r)); });
  // The lookup of localhost (a name the certificate has) is now stuck; these go through.
  EXPECT_TRUE(sender.Post(server_.Url("/hook", "receiver.test"), {}, "{}").succeeded());
  EXPECT_TRUE(sender.Post(server_.Url("/hook"), {}, "{}").succeeded());
  EXPECT_EQ(hits.load(), 2);
  auto pending = slow.get_future();
  EXPECT_EQ(pending.wait_for(std::chrono::seconds(0)), std::future_status::timeout);
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  const SendResult late = pending.get();
  EXPECT_TRUE(late.succeeded()) << late.attempt.error;
  EXPECT_EQ(hits.load(), 3);
}

TEST_F(HttpSenderTest, LargeResponseIsTruncatedToTheExcerptLimit) {
  const std::string big(200 * 1024, 'x');
  server_.svr().Post("/big", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(big, "text/plain");
  });
  server_.Start();
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  auto r = sender.Post(server_.Url("/big"), {}, "{}");
  EXPECT_TRUE(r.succeeded()) << r.attempt.error;
  EXPECT_EQ(r.attempt.response_excerpt.size(), kResponseExcerptLimit);
  EXPECT_TRUE(r.attempt.response_truncated);
}

TEST_F(HttpSenderTest, ResponseBeyondTheHardCapIsTooLarge) {
  const std::string huge(2 * 1024 * 1024, 'y');
  server_.svr().Post("/huge", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(huge, "text/plain");
  });
  server_.Start();
  auto options = TrustingTestCa();
  options.max_response_bytes = 64 * 1024;
  HttpSender sender(options, allow_loopback_, clock_);
  auto r = sender.Post(server_.Url("/huge"), {}, "{}");
  EXPECT_EQ(r.attempt.cause, FailureCause::kResponseTooLarge) << r.attempt.error;
  EXPECT_EQ(r.attempt.http_status, 200);
  EXPECT_EQ(r.attempt.response_excerpt.size(), kResponseExcerptLimit);
  EXPECT_TRUE(r.attempt.response_truncated);
  EXPECT_EQ(sender.idle_connections(), 0u);  // the half-read connection is not reused
}

TEST_F(HttpSenderTest, ReceiverVerifiesTheSignatureOnTheRawBody) {
  const std::string old_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const std::string new_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
  const int64_t now_s = clock_.NowMs() / 1000;
  std::string verify_error;
  // The receiver still has the old secret: the rotation header must satisfy it.
  server_.svr().Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    auto v = Verify(old_secret, req.get_header_value("webhook-id"),
                    req.get_header_value("webhook-timestamp"), req.body,
                    req.get_header_value("webhook-signature"), now_s);
    verify_error = v.error;
    res.status = v.ok ? 204 : 401;
  });
  server_.Start();
  HttpSender sender(TrustingTestCa(), allow_loopback_, clock_);
  const std::string body = R"({"type":"device.enroll","data":{"id":"d1"}})";
  auto ok = sender.Post(server_.Url("/hook"),
                        SignedHeaders({new_secret, old_secret}, "msg_42", now_s, body), body);
  EXPECT_EQ(ok.attempt.http_status, 204) << verify_error;

  auto tampered =
      sender.Post(server_.Url("/hook"),
                  SignedHeaders({new_secret, old_secret}, "msg_42", now_s, body), body + " ");
  EXPECT_EQ(tampered.attempt.http_status, 401);
  EXPECT_EQ(verify_error, "no matching signature found");
}

TEST(HttpSenderConfigTest, UnreadableExtraCaFileIsAStartupError) {
  AddressGuard guard;
  ManualClock clock;
  HttpSenderOptions options;
  options.extra_ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(HttpSender(options, guard, clock), std::runtime_error);
}

}  // namespace
}  // namespace mambo::delivery
