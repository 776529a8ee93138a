#pragma once
// A real HTTPS webhook receiver on 127.0.0.1 (port 0) for tests, with a certificate made at test
// time by the openssl CLI (CN/SAN 127.0.0.1; never committed). It records every request and lets
// tests wait for a count on a condition variable (no sleeps).

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/tls_server.h"

namespace mambo::testing {

struct ReceivedRequest {
  std::string path;
  httplib::Headers headers;
  std::string body;
  std::chrono::steady_clock::time_point at;  // when it arrived
  std::string Header(const std::string& name) const;
};

class HttpsReceiver {
 public:
  // Fills the response for each request; the default answers 200 "ok".
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  explicit HttpsReceiver(Handler handler = nullptr);
  ~HttpsReceiver();
  HttpsReceiver(const HttpsReceiver&) = delete;
  HttpsReceiver& operator=(const HttpsReceiver&) = delete;

  int port() const { return server_.port(); }
  std::string Url(const std::string& path = "/hook") const;
  std::vector<ReceivedRequest> Requests() const;
  size_t Count() const;
  // True once at least `n` requests arrived; false if `timeout` passed first.
  bool WaitForCount(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

  // For handlers that must hang: blocks until Release() (called by the destructor too).
  void Hang() { server_.Hang(); }
  void Release() { server_.Release(); }

 private:
  Handler handler_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<ReceivedRequest> requests_;
  // Last, so it is destroyed first: its destructor releases hanging handlers and joins the
  // threads that run the route above, which uses every member before this one.
  TlsServer server_;
};

}  // namespace mambo::testing
