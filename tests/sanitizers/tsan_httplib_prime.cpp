// Linked into the test binaries of a -DMAMBO_SANITIZE=thread build only (tests/CMakeLists.txt).
//
// Debian's libcpp-httplib.so is not instrumented. Its Server::parse_request_line keeps a
// function-local `static const std::set<std::string> methods`, built (memcpy) by the first
// request of the process and searched (memcmp) by every later one. Later calls skip the init by
// testing the guard byte with a plain inline load in the .so, an acquire TSan cannot see, so two
// threads of one server's pool were reported as a data race on every run: a false positive with
// no frame in our code. No suppression can single it out (tests/sanitizers/tsan.supp says why).
//
// So the static is built here, before main, by one request to a throwaway server whose threads
// are all joined before any test starts a thread: every later reader then really is ordered
// after the fill by thread joins and creations, which TSan does see. Nothing is suppressed.
// MAMBO_TSAN_SKIP_HTTPLIB_PRIME=1 skips it, to see the report again.
#include <httplib.h>

#include <cstdlib>
#include <thread>

namespace {

bool PrimeHttplibStatics() {
  if (std::getenv("MAMBO_TSAN_SKIP_HTTPLIB_PRIME") != nullptr) return false;
  httplib::Server server;
  server.Post("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  if (port <= 0) return false;
  std::thread listener([&] { server.listen_after_bind(); });
  // The socket listens from bind on: the request waits in the backlog until the loop accepts it.
  httplib::Client client("127.0.0.1", port);
  const bool answered = static_cast<bool>(client.Post("/", "{}", "application/json"));
  while (!server.is_running()) std::this_thread::yield();
  server.stop();
  listener.join();  // the pool's threads were joined before listen_after_bind returned
  return answered;
}

const bool kPrimed = PrimeHttplibStatics();

}  // namespace
