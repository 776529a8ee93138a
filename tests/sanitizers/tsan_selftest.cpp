// Deliberate data races, built only in a thread-sanitized build with -DMAMBO_TSAN_SELFTEST=ON
// and run by `scripts/sanitize.sh tsan-selftest` (never by ctest): each test must die with a
// ThreadSanitizer report naming this file while tests/sanitizers/tsan.supp is in force. Proof that
// the suppression hides only httplib's own false positive, not the project's races, including a
// race in a handler that httplib's server threads run (its stack is full of httplib frames).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <thread>
#include <vector>

namespace {

int plain_counter = 0;  // written by two threads, no lock: the race

TEST(TsanSelftest, TwoThreadsWriteOneInt) {
  auto bump = [] {
    for (int i = 0; i < 1000; ++i) ++plain_counter;
  };
  std::thread a(bump), b(bump);
  a.join();
  b.join();
  EXPECT_GT(plain_counter, 0);
}

TEST(TsanSelftest, HandlersOnHttplibThreadsWriteOneInt) {
  httplib::Server server;
  int hits = 0;  // written by every request's handler, no lock: the race
  server.Post("/", [&](const httplib::Request&, httplib::Response& res) {
    ++hits;
    // Overlap the handlers in time, so no lock taken between requests orders them.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    res.set_content("ok", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread listener([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([port] {
      httplib::Client cli("127.0.0.1", port);
      cli.Post("/", "{}", "application/json");
    });
  }
  for (auto& c : clients) c.join();
  server.stop();
  listener.join();
  EXPECT_GT(hits, 0);
}

}  // namespace
