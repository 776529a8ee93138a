#include "support/https_receiver.h"

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
        " -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost"
        " >/dev/null 2>&1";
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

std::string ReceivedRequest::Header(const std::string& name) const {
  auto it = headers.find(name);  // httplib::Headers compares names case-insensitively
  return it == headers.end() ? std::string() : it->second;
}

HttpsReceiver::HttpsReceiver(Handler handler)
    : server_(TestCert::Get().cert.c_str(), TestCert::Get().key.c_str()),
      handler_(std::move(handler)) {
  server_.set_tcp_nodelay(true);
  // Senders keep connections alive; a short keep-alive wait lets stop() return quickly.
  server_.set_keep_alive_timeout(1);
  server_.new_task_queue = [] { return new httplib::ThreadPool(16); };
  server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu_);
      requests_.push_back({req.path, req.headers, req.body});
    }
    cv_.notify_all();
    if (handler_) {
      handler_(req, res);
    } else {
      res.set_content("ok", "text/plain");
    }
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) ADD_FAILURE() << "receiver could not bind";
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

HttpsReceiver::~HttpsReceiver() {
  Release();
  // stop() is a no-op until listen_after_bind runs; it starts right after the thread does.
  while (!server_.is_running()) std::this_thread::yield();
  server_.stop();
  thread_.join();
}

std::string HttpsReceiver::Url(const std::string& path) const {
  return "https://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<ReceivedRequest> HttpsReceiver::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

size_t HttpsReceiver::Count() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

bool HttpsReceiver::WaitForCount(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

void HttpsReceiver::Hang() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return released_; });
}

void HttpsReceiver::Release() {
  {
    std::lock_guard lock(mu_);
    released_ = true;
  }
  cv_.notify_all();
}

}  // namespace mambo::testing
