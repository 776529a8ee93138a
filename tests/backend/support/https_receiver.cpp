#include "support/https_receiver.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>

namespace mambo::testing {

std::string ReceivedRequest::Header(const std::string& name) const {
  auto it = headers.find(name);  // httplib::Headers compares names case-insensitively
  return it == headers.end() ? std::string() : it->second;
}

HttpsReceiver::HttpsReceiver(Handler handler) : handler_(std::move(handler)) {
  server_.svr().Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu_);
      requests_.push_back({req.path, req.headers, req.body, std::chrono::steady_clock::now()});
    }
    cv_.notify_all();
    if (handler_) {
      handler_(req, res);
    } else {
      res.set_content("ok", "text/plain");
    }
  });
  server_.Start();
}

HttpsReceiver::~HttpsReceiver() = default;  // the server releases hanging handlers and stops

std::string HttpsReceiver::Url(const std::string& path) const {
  return server_.Url(path);
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

}  // namespace mambo::testing
