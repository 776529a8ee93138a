// webhookd against hostile clients and receivers: a real process, raw sockets that send what no
// HTTP library would, receivers that answer with bytes that are not text. Each test failed (or
// crashed webhookd) before the hardening it covers.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "mambo/text.h"
#include "service/webhookd_process.h"
#include "support/event_bodies.h"
#include "support/https_receiver.h"
#include "support/raw_http.h"
#include "support/tls_server.h"
#include "support/wait_until.h"

namespace mambo::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

const std::string kCreateBody =
    R"({"url":"https://hooks.example.com/mambo","events":["device.enroll"],"secret":"generate"})";

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_ = CreateToken(dir_.path(), "acme", "admin");
    ingest_ = CreateToken(dir_.path(), "acme", "ingest");
  }
  void Start(std::vector<std::string> extra = {}) {
    server_ = std::make_unique<WebhookdProcess>(dir_.path(), std::move(extra));
    ASSERT_TRUE(server_->started());
  }
  bool Alive() const { return server_->Running(); }
  bool Healthy() const {
    auto r = server_->Client().Get("/healthz");
    return r && r->status == 200;
  }
  // Peak resident memory of webhookd so far, from /proc.
  size_t PeakRssKiB() const {
    std::ifstream status("/proc/" + std::to_string(server_->pid()) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::stoul(line.substr(6));
    }
    return 0;
  }
  std::string Raw(const std::string& request) {
    RawConnection c(server_->port());
    EXPECT_TRUE(c.connected());
    c.Send(request);
    return c.ReadResponse();
  }
  // The answer is an error in the API's JSON shape, as valid UTF-8.
  void ExpectJsonError(const std::string& response, int status, const std::string& request) {
    EXPECT_EQ(StatusOf(response), status) << request << "\n" << response;
    const std::string body = BodyOf(response);
    EXPECT_TRUE(IsValidUtf8(body)) << body;
    const Json j = Json::parse(body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << request << "\n" << response;
    EXPECT_TRUE(j["error"]["message"].is_string()) << response;
  }

  TempDir dir_;
  std::string admin_, ingest_;
  std::unique_ptr<WebhookdProcess> server_;
};

TEST_F(HardeningTest, BytesThatAreNotUtf8AnywhereInARequestAreAnsweredNeverACrash) {
  Start();
  const std::string id = server_->Call("POST", "/api/v1/webhooks", admin_, kCreateBody).body["id"];
  const std::string auth = "Authorization: Bearer " + admin_ + "\r\n";
  const std::string ingest = "Authorization: Bearer " + ingest_ + "\r\n";
  const std::string json = "Content-Type: application/json\r\n";
  auto post = [&](const std::string& path, const std::string& token, const std::string& body) {
    return "POST " + path + " HTTP/1.1\r\nHost: x\r\n" + token + json +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  const std::pair<std::string, int> cases[] = {
      // Unauthenticated, raw bytes in the path: this one request aborted webhookd.
      {"GET /api/v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n", 400},
      // The same bytes percent-encoded: they reach routing, decoded, and are echoed.
      {"GET /api/v1/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n", 404},
      {"GET /api/v1/webhooks/" + id + "/deliveries?event_type=%ff%fe HTTP/1.1\r\nHost: x\r\n" +
           auth + "\r\n",
       422},
      {"GET /api/v1/webhooks/" + id + "/deliveries?status=%c3 HTTP/1.1\r\nHost: x\r\n" + auth +
           "\r\n",
       422},
      {"GET /api/v1/webhooks?cursor=%ff HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 422},
      {"GET /api/v1/webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n\r\n", 400},
      {"GET /api/v1/webhooks HTTP/1.1\r\nHost: \xc3\r\n" + auth + "\r\n", 400},
      {"GET /api/v1/webhooks HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %ff\r\n\r\n", 401},
      {post("/api/v1/events", ingest,
            R"({"type":"device.enroll","data":{"a":")"
            "\xff"
            R"("}})"),
       400},
      {post("/api/v1/events", ingest, "{\"type\":\"\xff\"}"), 400},
      {post("/api/v1/webhooks", auth, "{\"url\":\"https://a.example/\xff\"}"), 400},
      {post("/api/v1/webhooks/" + id + "/recover", auth, "{\"\xff\":1}"), 400},
  };
  for (const auto& [request, status] : cases) {
    ExpectJsonError(Raw(request), status, request);
    ASSERT_TRUE(Alive()) << "webhookd died on:\n" << request << "\n" << server_->Log();
    ASSERT_TRUE(Healthy());
  }
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks/" + id, admin_).status, 200);
  EXPECT_EQ(server_->Stop(SIGTERM), 0) << server_->Log();
}

TEST_F(HardeningTest, DeepNestingIsRefusedOnEveryJsonRoute) {
  Start();
  const Json created = server_->Call("POST", "/api/v1/webhooks", admin_, kCreateBody).body;
  const std::string id = created["id"];
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::pair<std::string, std::string> routes[] = {
      {"POST", "/api/v1/webhooks"},
      {"PATCH", "/api/v1/webhooks/" + id},
      {"POST", "/api/v1/events"},
      {"POST", "/api/v1/webhooks/" + id + "/secret/rotate"},
      {"POST", "/api/v1/webhooks/" + id + "/recover"},
      {"POST", "/api/v1/webhooks/" + id + "/test"},
  };
  for (const auto& [method, path] : routes) {
    for (const std::string& body : {deep, "{\"data\":" + deep + "}"}) {
      const std::string token = path == "/api/v1/events" ? ingest_ : admin_;
      auto r = server_->Call(method, path, token, body);
      EXPECT_EQ(r.status, 400) << method << " " << path << ": " << r.raw.substr(0, 200);
      EXPECT_NE(r.raw.find("nested deeper than 64"), std::string::npos) << r.raw.substr(0, 200);
      ASSERT_TRUE(Alive()) << method << " " << path << "\n" << server_->Log();
    }
  }
  // Nothing changed.
  const Json after = server_->Call("GET", "/api/v1/webhooks/" + id, admin_).body;
  EXPECT_EQ(after["updated_at"], created["updated_at"]);
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", admin_).body["data"].size(), 1u);
}

// Streams `chunk` until webhookd answers (or `max_bytes` went out); the answer, and how much
// was sent before it came.
std::pair<std::string, size_t> StreamUntilAnswered(RawConnection& c, const std::string& head,
                                                   const std::string& chunk, size_t max_bytes) {
  size_t sent = 0;
  if (!c.Send(head)) return {"", 0};
  // At least one chunk: an answer to the head alone (the length-less case) must still see the
  // garbage that follows it.
  do {
    if (!c.Send(chunk)) break;
    sent += chunk.size();
  } while (sent < max_bytes && !c.Readable());
  return {c.ReadResponse(), sent};
}

TEST_F(HardeningTest, BodyAndHeaderFloodsAreRefusedEarlyForEveryFraming) {
  Start();
  const size_t kFlood = 256u << 20;  // what a client may try to make webhookd hold
  const std::string auth = "Authorization: Bearer " + ingest_ + "\r\n";
  const std::string events =
      "POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: "
      "application/json\r\n";
  {  // Chunked, with and without a token: refused at the chunk that passes 256 KiB.
    for (const std::string& token : {auth, std::string()}) {
      RawConnection c(server_->port());
      const std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
      auto [answer, sent] = StreamUntilAnswered(
          c, events + token + "Transfer-Encoding: chunked\r\n\r\n", chunk, kFlood);
      ExpectJsonError(answer, 413, "chunked flood");
      // What was sent before the answer is what the sockets' buffers took (a few MB on
      // loopback), not what webhookd read.
      EXPECT_LT(sent, 32u << 20) << "the answer came only after " << sent << " bytes";
    }
  }
  {  // A declared length over the limit: refused before a byte of the body.
    RawConnection c(server_->port());
    c.Send(events + auth + "Content-Length: 10000000000\r\n\r\n");
    ExpectJsonError(c.ReadResponse(), 413, "Content-Length flood");
  }
  {  // No length at all: no body; what follows is not a request.
    RawConnection c(server_->port());
    auto [answer, sent] =
        StreamUntilAnswered(c, events + auth + "\r\n", std::string(0x10000, '{'), kFlood);
    ExpectJsonError(answer, 400, "length-less body");
    EXPECT_TRUE(c.ClosedByPeer()) << "the garbage after it is refused and the connection closed";
  }
  {  // Header lines without end.
    RawConnection c(server_->port());
    std::string lines;
    for (int i = 0; i < 1000; ++i) lines += "X-Flood-" + std::to_string(i) + ": y\r\n";
    auto [answer, sent] =
        StreamUntilAnswered(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n", lines, kFlood);
    ExpectJsonError(answer, 431, "header flood");
    EXPECT_LT(sent, 32u << 20);
  }
  {  // One endless header line.
    RawConnection c(server_->port());
    auto [answer, sent] = StreamUntilAnswered(
        c, "GET /healthz HTTP/1.1\r\nX-Long: ", std::string(0x10000, 'a'), kFlood);
    ExpectJsonError(answer, 431, "endless header line");
  }
  EXPECT_TRUE(Alive());
  EXPECT_TRUE(Healthy());
  EXPECT_LT(PeakRssKiB(), 150u * 1024) << "webhookd held the flood in memory";
}

TEST_F(HardeningTest, AThousandIdleAndTricklingConnectionsDoNotStopTheApi) {
  Start();
  std::vector<RawConnection> idle, trickling;
  for (int i = 0; i < 500; ++i) {
    idle.emplace_back(server_->port());
    trickling.emplace_back(server_->port());
    ASSERT_TRUE(idle.back().connected() && trickling.back().connected());
    trickling.back().Send("GET /api/v1/webhooks HTTP/1.1\r\nHost: x\r\n");
  }
  for (int round = 0; round < 5; ++round) {
    for (auto& c : trickling) c.Send("X-Slow-" + std::to_string(round) + ": a\r\n");
    for (const char* path : {"/healthz", "/api/v1/webhooks"}) {
      const auto start = Clock::now();
      auto r = server_->Call("GET", path, admin_);
      const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
      EXPECT_EQ(r.status, 200) << path;
      EXPECT_LT(took.count(), 1000) << path << " took " << took.count() << " ms in round " << round;
    }
  }
  // The trickling requests are still only waiting, not refused: each completes when it ends.
  trickling.front().Send("Authorization: Bearer " + admin_ + "\r\n\r\n");
  EXPECT_EQ(StatusOf(trickling.front().ReadResponse()), 200);
}

TEST_F(HardeningTest, ARequestThatArrivesTooSlowlyIsAnswered408AndClosed) {
  Start({"--http-request-timeout-ms", "300"});
  RawConnection c(server_->port());
  c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n");  // and nothing more
  const std::string answer = c.ReadResponse();
  ExpectJsonError(answer, 408, "slow request");
  EXPECT_TRUE(c.ClosedByPeer());
  // A connection with no request begun is not held to that deadline.
  RawConnection quiet(server_->port());
  RawConnection probe(server_->port());
  probe.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n");
  ASSERT_EQ(StatusOf(probe.ReadResponse()), 408);
  EXPECT_TRUE(quiet.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(quiet.ReadResponse()), 200);
}

TEST_F(HardeningTest, AtTheConnectionLimitAnIdleConnectionMakesRoom) {
  Start({"--max-connections", "16", "--log-level", "debug"});
  std::vector<RawConnection> conns;
  for (int i = 0; i < 16; ++i) conns.emplace_back(server_->port());
  for (auto& c : conns) {
    c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(StatusOf(c.ReadResponse()), 200);
  }
  // A 17th client is served: one idle connection was closed for it (the one idle longest, as
  // far as webhookd knows: a worker may still be handing a just-answered one back).
  RawConnection newcomer(server_->port());
  newcomer.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusOf(newcomer.ReadResponse()), 200);
  int closed = 0;
  for (auto& c : conns) {
    c.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string answer = c.ReadResponse();
    if (answer.empty()) {
      ++closed;
    } else {
      EXPECT_EQ(StatusOf(answer), 200);
    }
  }
  EXPECT_EQ(closed, 1) << server_->Log();
}

TEST_F(HardeningTest, EveryAnswerCarriesTheSecurityHeaders) {
  TempDir web;
  std::ofstream(web.path() + "/index.html") << "<!doctype html><title>x</title>";
  Start({"--web-root", web.path()});
  const std::pair<std::string, std::string> requests[] = {
      {"/healthz", "no-store"},
      {"/api/v1/webhooks", "no-store"},      // 401
      {"/api/v1/nothing-here", "no-store"},  // 404
      {"/index.html", "no-cache"},
  };
  auto check = [](const std::string& answer, const std::string& cache, const std::string& what) {
    const std::string csp = HeaderOf(answer, "Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << what << "\n" << answer;
    EXPECT_NE(csp.find("'wasm-unsafe-eval'"), std::string::npos) << what;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << what;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << what;
    EXPECT_EQ(HeaderOf(answer, "X-Frame-Options"), "DENY") << what;
    EXPECT_EQ(HeaderOf(answer, "X-Content-Type-Options"), "nosniff") << what;
    EXPECT_EQ(HeaderOf(answer, "Referrer-Policy"), "no-referrer") << what;
    EXPECT_EQ(HeaderOf(answer, "Cache-Control"), cache) << what;
  };
  for (const auto& [path, cache] : requests) {
    check(Raw("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"), cache, path);
  }
  // The front's own answers too.
  check(Raw("GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"), "no-store", "front 400");
}

TEST_F(HardeningTest, HttpsIsServedByTheSameFrontWithTheSameLimits) {
  const TestCert& cert = TestCert::Get();
  Start({"--tls-cert", cert.cert, "--tls-key", cert.key, "--http-request-timeout-ms", "2000"});
  auto https = [&] {
    auto cli = std::make_unique<httplib::SSLClient>("127.0.0.1", server_->port());
    cli->set_ca_cert_path(cert.cert.c_str());
    cli->enable_server_certificate_verification(true);
    cli->set_connection_timeout(5, 0);
    cli->set_read_timeout(10, 0);
    return cli;
  };
  // 500 connections that never begin their handshake (and 500 more with a request begun over
  // plain HTTP, which TLS reads as garbage) do not hold the API.
  std::vector<RawConnection> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.emplace_back(server_->port());
    ASSERT_TRUE(idle.back().connected());
    if (i % 2 == 1) idle.back().Send("GET /healthz HTTP/1.1\r\n");
  }
  for (int round = 0; round < 3; ++round) {
    const auto start = Clock::now();
    auto cli = https();
    auto r = cli->Get("/healthz");
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(took.count(), 1000) << "round " << round;
    EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
    auto listed = cli->Get("/api/v1/webhooks", {{"Authorization", "Bearer " + admin_}});
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->status, 200) << listed->body;
  }
  // The framer's limits hold inside TLS: a body over the limit is refused by the front, in the
  // API's JSON.
  auto cli = https();
  auto big = cli->Post("/api/v1/events", {{"Authorization", "Bearer " + ingest_}},
                       std::string(300 * 1024, 'x'), "application/json");
  ASSERT_TRUE(big) << httplib::to_string(big.error());
  EXPECT_EQ(big->status, 413) << big->body;
  EXPECT_TRUE(Json::parse(big->body, nullptr, false).contains("error")) << big->body;
  // A connection that never finishes its handshake is closed after the request deadline.
  RawConnection stalled(server_->port());
  stalled.Send(std::string("\x16\x03\x01\x00\x10", 5));  // a ClientHello header, no body
  EXPECT_EQ(stalled.ReadResponse(), "");
  EXPECT_TRUE(stalled.ClosedByPeer());
  EXPECT_TRUE(Alive());
}

TEST_F(HardeningTest, QuotasAnswerWithClearErrors) {
  const std::string other = CreateToken(dir_.path(), "globex", "admin");
  Start({"--max-webhooks-per-team", "2", "--sends-per-minute", "3"});
  std::string id;
  for (int i = 0; i < 2; ++i) {
    auto r = server_->Call("POST", "/api/v1/webhooks", admin_, kCreateBody);
    ASSERT_EQ(r.status, 201) << r.raw;
    id = r.body["id"];
  }
  auto over = server_->Call("POST", "/api/v1/webhooks", admin_, kCreateBody);
  EXPECT_EQ(over.status, 422) << over.raw;
  EXPECT_EQ(over.body["error"]["code"], "quota_exceeded");
  EXPECT_NE(over.raw.find("2 webhooks"), std::string::npos) << over.raw;
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", admin_).body["data"].size(), 2u);
  // Another team has its own quota.
  EXPECT_EQ(server_->Call("POST", "/api/v1/webhooks", other, kCreateBody).status, 201);

  // Test events and resends share a bucket of 3 a minute per team.
  std::string delivery;
  for (int i = 0; i < 3; ++i) {
    auto r = server_->Call("POST", "/api/v1/webhooks/" + id + "/test", admin_, "");
    ASSERT_EQ(r.status, 202) << r.raw;
    delivery = r.body["deliveries"][0];
  }
  for (const std::string path :
       {"/api/v1/webhooks/" + id + "/test", "/api/v1/deliveries/" + delivery + "/resend"}) {
    auto r = server_->Call("POST", path, admin_, "");
    EXPECT_EQ(r.status, 429) << path << ": " << r.raw;
    EXPECT_EQ(r.body["error"]["code"], "rate_limited");
    int retry_after = 0;
    for (const auto& [k, v] : r.headers) {
      if (k == "Retry-After") retry_after = std::stoi(v);
    }
    EXPECT_GE(retry_after, 1) << path;
    EXPECT_LE(retry_after, 20) << path;
  }
  const std::string other_id =
      server_->Call("GET", "/api/v1/webhooks", other).body["data"][0]["id"];
  EXPECT_EQ(server_->Call("POST", "/api/v1/webhooks/" + other_id + "/test", other, "").status, 202);
}

// --- Receivers --------------------------------------------------------------------------------

class HostileReceiverTest : public HardeningTest {
 protected:
  void StartDelivering(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--ca-file",    TestCert::Get().cert, "--allow-private-targets",
                                  "127.0.0.1/32", "--lease-ms",         "1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    Start(args);
  }
  std::string CreateWebhook(const std::string& url) {
    auto r = server_->Call("POST", "/api/v1/webhooks", admin_,
                           R"({"url":")" + url + R"(","events":["device.enroll"]})");
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body.value("id", "");
  }
  std::string Ingest() {
    auto r = server_->Call("POST", "/api/v1/events", ingest_, EventBody("device.enroll"));
    EXPECT_EQ(r.status, 202) << r.raw;
    return r.body["deliveries"].empty() ? "" : r.body["deliveries"][0].get<std::string>();
  }
};

TEST_F(HostileReceiverTest, ResponseBytesThatAreNotTextAreRecordedOnceAndNeverResent) {
  HttpsReceiver receiver([](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_header("X-Bad", "\xff\xfe\xc3");
    for (int i = 0; i < 100; ++i) res.set_header("X-Many-" + std::to_string(i), "v");
    res.set_content("\xff ok \xfe", "application/octet-stream");
  });
  StartDelivering();
  CreateWebhook(receiver.Url());
  const std::string delivery = Ingest();
  Json d;
  ASSERT_TRUE(WaitUntil([&] {
    auto r = server_->Call("GET", "/api/v1/deliveries/" + delivery, admin_);
    d = r.body;
    return r.status == 200 && d.value("status", "") == "succeeded";
  })) << d.dump(2, ' ', false, Json::error_handler_t::replace)
      << "\n"
      << server_->Log();
  ASSERT_EQ(d["attempts"].size(), 1u);
  const Json& a = d["attempts"][0];
  EXPECT_EQ(a["response_excerpt"], "\xEF\xBF\xBD ok \xEF\xBF\xBD");
  EXPECT_TRUE(a["response_headers_truncated"].get<bool>());
  EXPECT_LE(a["response_headers"].size(), kMaxStoredResponseHeaders);
  bool found = false;
  for (const auto& h : a["response_headers"]) {
    if (h[0] == "X-Bad") {
      found = true;
      EXPECT_EQ(h[1], "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    }
  }
  EXPECT_TRUE(found) << a["response_headers"].dump();
  // Not resent: a later event's delivery arrives after the lease of the first would have
  // expired (1 s) and the receiver has seen each event once.
  const std::string second = Ingest();
  ASSERT_TRUE(WaitUntil([&] {
    return server_->Call("GET", "/api/v1/deliveries/" + second, admin_).body.value("status", "") ==
           "succeeded";
  }));
  EXPECT_EQ(receiver.Count(), 2u);
}

TEST_F(HostileReceiverTest, AProxyInTheEnvironmentIsNeverUsed) {
  // A listener that would be the proxy: it must see no connection.
  const int proxy = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(proxy, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(proxy, 16), 0);
  ::getsockname(proxy, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const char* names[] = {"https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
  for (const char* name : names) ::setenv(name, url.c_str(), 1);
  HttpsReceiver receiver;
  StartDelivering();
  for (const char* name : names) ::unsetenv(name);
  CreateWebhook(receiver.Url());
  Ingest();
  EXPECT_TRUE(receiver.WaitForCount(1)) << server_->Log();
  pollfd p{proxy, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "webhookd connected to the proxy from the environment";
  ::close(proxy);
}

}  // namespace
}  // namespace mambo::testing
