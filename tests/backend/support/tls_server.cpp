#include "support/tls_server.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>

namespace mambo::testing {

const TestCert& TestCert::Get() {
  static const TestCert cert = [] {
    TestCert c;
    std::string tmpl = (std::filesystem::temp_directory_path() / "mambo-cert-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) std::abort();
    c.dir = tmpl;
    c.cert = c.dir + "/cert.pem";
    c.key = c.dir + "/key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " +
        c.key + " -out " + c.cert +
        " -days 2 -subj /CN=127.0.0.1 -addext "
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:receiver.test >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      ADD_FAILURE() << "openssl could not make a test certificate: " << cmd;
    }
    static const std::string dir = c.dir;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    });
    return c;
  }();
  return cert;
}

TlsServer::TlsServer() : svr_(TestCert::Get().cert.c_str(), TestCert::Get().key.c_str()) {
  svr_.set_tcp_nodelay(true);
  // Senders keep connections alive; a short keep-alive wait lets stop() return quickly.
  svr_.set_keep_alive_timeout(1);
  svr_.new_task_queue = [] { return new httplib::ThreadPool(16); };
}

TlsServer::~TlsServer() {
  Release();
  if (thread_.joinable()) {
    // stop() is a no-op until listen_after_bind runs; it starts right after the thread does.
    while (!svr_.is_running()) std::this_thread::yield();
    svr_.stop();
    thread_.join();
  }
}

void TlsServer::Start() {
  ASSERT_TRUE(svr_.is_valid());
  port_ = svr_.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port_, 0) << "test server could not bind";
  thread_ = std::thread([this] { svr_.listen_after_bind(); });
}

std::string TlsServer::Url(const std::string& path, const std::string& host) const {
  return "https://" + host + ":" + std::to_string(port_) + path;
}

void TlsServer::Hang() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return released_; });
}

void TlsServer::Release() {
  {
    std::lock_guard lock(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

}  // namespace mambo::testing
