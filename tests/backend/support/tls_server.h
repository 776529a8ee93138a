#pragma once
// A real HTTPS server on 127.0.0.1 (port 0) with the test certificate, for tests that register
// their own routes (svr().Post(...), then Start()). Hanging handlers block in Hang() until the
// test or the destructor calls Release(). HttpsReceiver is one of these with a recording route.

#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace mambo::testing {

// One certificate per test process, removed at exit: CN 127.0.0.1, SANs 127.0.0.1, localhost
// and receiver.test (a name tests resolve through FakeDns). Made by the openssl CLI at test time;
// never committed.
struct TestCert {
  std::string dir, cert, key;
  static const TestCert& Get();
};

class TlsServer {
 public:
  TlsServer();
  ~TlsServer();
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  httplib::SSLServer& svr() { return svr_; }
  // Binds to a free port and serves on a thread; routes must be registered before.
  void Start();
  int port() const { return port_; }
  std::string Url(const std::string& path = "/hook", const std::string& host = "127.0.0.1") const;

  void Hang();     // blocks the calling handler until Release()
  void Release();  // lets every hanging handler (and later ones) go on

 private:
  httplib::SSLServer svr_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

}  // namespace mambo::testing
