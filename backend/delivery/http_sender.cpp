#include "delivery/http_sender.h"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "mambo/validation.h"

namespace mambo::delivery {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A CA store with the system roots plus the operator's extra CA file. httplib's
// set_ca_cert_path would *replace* the system roots, so the store is built here, once: parsing
// the system bundle costs milliseconds, and doing it per connection was 82 % of the engine's CPU
// (bench/delivery_bench.sh). Clients share it by reference count.
X509_STORE* BuildCaStore(const std::string& extra_ca_file, std::string* error) {
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr) {
    if (error) *error = "out of memory creating the CA store";
    return nullptr;
  }
  X509_STORE_set_default_paths(store);
  if (!extra_ca_file.empty() && X509_STORE_load_file(store, extra_ca_file.c_str()) != 1) {
    if (error) {
      *error = "could not load CA file " + extra_ca_file + ": " +
               ERR_reason_error_string(ERR_peek_last_error());
    }
    ERR_clear_error();
    X509_STORE_free(store);
    return nullptr;
  }
  return store;
}

// The handshake runs on the thread that calls Post, so a thread-local carries OpenSSL's verdict
// on the certificate out of the callback into the attempt's error text.
thread_local int tls_verify_error = X509_V_OK;

int RecordVerifyResult(int preverify_ok, X509_STORE_CTX* store_ctx) {
  if (!preverify_ok && tls_verify_error == X509_V_OK) {
    tls_verify_error = X509_STORE_CTX_get_error(store_ctx);
  }
  return preverify_ok;
}

void SetTimeout(int64_t ms, const std::function<void(time_t, time_t)>& set) {
  set(static_cast<time_t>(ms / 1000), static_cast<time_t>((ms % 1000) * 1000));
}

struct Target {
  std::string host;  // without IPv6 brackets
  uint16_t port = 443;
  std::string path_and_query;  // already percent-encoded: sent as is
};

std::optional<Target> ParseTarget(std::string_view url, std::string& error) {
  if (auto e = UrlError(url)) {
    error = *e;
    return std::nullopt;
  }
  auto parsed = boost::urls::parse_absolute_uri(boost::core::string_view(url.data(), url.size()));
  if (parsed.has_error()) {
    error = "URL is not a valid URL";
    return std::nullopt;
  }
  const boost::urls::url_view u = *parsed;
  Target t;
  if (u.host_type() == boost::urls::host_type::ipv6) {
    t.host = std::string(u.host_address());  // brackets stripped
  } else {
    t.host = Lower(std::string(u.encoded_host()));
  }
  if (u.has_port()) t.port = u.port_number();
  t.path_and_query = std::string(u.encoded_path());
  if (t.path_and_query.empty()) t.path_and_query = "/";
  if (u.has_query()) t.path_and_query += "?" + std::string(u.encoded_query());
  return t;
}

// The whole-request deadline. httplib 0.11.4 only has per-read/per-write timeouts, which a
// receiver dripping one byte every few seconds never trips, so a watchdog thread calls stop() on
// the client when a request's deadline passes; stop() shuts the socket down and the blocked
// read/write in the worker returns with an error that the worker reports as kTimeout.
class Watchdog {
 public:
  struct Watch {
    std::mutex mutex;
    httplib::ClientImpl* client = nullptr;
    bool done = false;
    bool fired = false;
  };

  Watchdog() : thread_([this] { Run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  std::shared_ptr<Watch> Arm(httplib::ClientImpl* client, SteadyClock::time_point deadline) {
    auto watch = std::make_shared<Watch>();
    watch->client = client;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      watches_.emplace(deadline, watch);
    }
    cv_.notify_all();
    return watch;
  }

  // After Disarm returns the watchdog will never touch the client again (so it can go back to
  // the pool). Returns whether the deadline fired.
  static bool Disarm(Watch& watch) {
    std::lock_guard<std::mutex> lock(watch.mutex);
    watch.done = true;
    return watch.fired;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      if (watches_.empty()) {
        cv_.wait(lock);
        continue;
      }
      const auto first = watches_.begin()->first;
      if (SteadyClock::now() < first) {
        cv_.wait_until(lock, first);
        continue;
      }
      std::vector<std::shared_ptr<Watch>> expired;
      const auto now = SteadyClock::now();
      while (!watches_.empty() && watches_.begin()->first <= now) {
        expired.push_back(std::move(watches_.begin()->second));
        watches_.erase(watches_.begin());
      }
      // stop() can block while the client finishes a TLS handshake (httplib holds its socket
      // mutex there): never hold our own mutex meanwhile, or Arm() in other workers would stall.
      lock.unlock();
      for (auto& watch : expired) {
        std::lock_guard<std::mutex> watch_lock(watch->mutex);
        if (watch->done) continue;
        watch->fired = true;
        watch->client->stop();
      }
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::multimap<SteadyClock::time_point, std::shared_ptr<Watch>> watches_;
  std::thread thread_;  // last: started after the members it uses
};

}  // namespace

struct HttpSender::Impl {
  struct Pooled {
    std::unique_ptr<httplib::SSLClient> client;
    SteadyClock::time_point idle_since;
  };

  HttpSenderOptions options;
  const AddressGuard& guard;
  const Clock& clock;
  Watchdog watchdog;

  mutable std::mutex pool_mutex;
  std::multimap<std::string, Pooled> idle;  // key: "host|port|address"

  X509_STORE* ca_store = nullptr;  // shared by every client (X509_STORE_up_ref per client)

  Impl(HttpSenderOptions o, const AddressGuard& g, const Clock& c, X509_STORE* store)
      : options(std::move(o)), guard(g), clock(c), ca_store(store) {}
  ~Impl() { X509_STORE_free(ca_store); }

  std::unique_ptr<httplib::SSLClient> NewClient(const Target& target, const IpAddress& ip) {
    auto client = std::make_unique<httplib::SSLClient>(target.host, target.port);
    // Connect to the checked address; SNI, Host and certificate checks keep using the name.
    client->set_hostname_addr_map({{target.host, ip.ToString()}});
    client->set_tcp_nodelay(true);  // without it Nagle + delayed ACK cost ~22 ms per request
    client->set_follow_location(false);
    client->set_keep_alive(true);
    client->set_url_encode(false);  // the target is already percent-encoded by Boost.URL
    SetTimeout(options.connect_timeout_ms,
               [&](time_t s, time_t us) { client->set_connection_timeout(s, us); });
    SetTimeout(options.request_timeout_ms,
               [&](time_t s, time_t us) { client->set_read_timeout(s, us); });
    SetTimeout(options.request_timeout_ms,
               [&](time_t s, time_t us) { client->set_write_timeout(s, us); });
    if (!options.egress_interface.empty()) client->set_interface(options.egress_interface);
    // Certificate checks are OpenSSL's, during the handshake, against the shared store. httplib's
    // own verification would load the system bundle again into every new client
    // (SSL_CTX_set_default_verify_paths), so it is off and the context does the work: chain
    // verification (SSL_VERIFY_PEER) and the host name or IP the certificate must name.
    client->enable_server_certificate_verification(false);
    X509_STORE_up_ref(ca_store);
    client->set_ca_cert_store(ca_store);  // takes the reference
    SSL_CTX* ctx = client->ssl_context();
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, RecordVerifyResult);
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    if (IpAddress::Parse(target.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(param, target.host.c_str());
    } else {
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      X509_VERIFY_PARAM_set1_host(param, target.host.c_str(), target.host.size());
    }
    return client;
  }

  std::unique_ptr<httplib::SSLClient> Acquire(const std::string& key, bool& reused) {
    std::vector<Pooled> stale;  // destroyed outside the lock: closing does TLS I/O
    std::unique_ptr<httplib::SSLClient> found;
    {
      std::lock_guard<std::mutex> lock(pool_mutex);
      const auto now = SteadyClock::now();
      auto range = idle.equal_range(key);
      for (auto it = range.first; it != range.second;) {
        if (now - it->second.idle_since > std::chrono::milliseconds(options.max_idle_ms)) {
          stale.push_back(std::move(it->second));
          it = idle.erase(it);
        } else if (!found) {
          found = std::move(it->second.client);
          it = idle.erase(it);
        } else {
          ++it;
        }
      }
    }
    reused = found != nullptr;
    return found;
  }

  void Release(const std::string& key, std::unique_ptr<httplib::SSLClient> client) {
    if (!client || !client->is_socket_open()) return;
    std::lock_guard<std::mutex> lock(pool_mutex);
    if (idle.size() >= options.max_idle_total || idle.count(key) >= options.max_idle_per_endpoint) {
      return;  // client closes here; a little TLS I/O under the lock is acceptable on overflow
    }
    idle.emplace(key, Pooled{std::move(client), SteadyClock::now()});
  }
};

HttpSender::HttpSender(HttpSenderOptions options, const AddressGuard& guard, const Clock& clock) {
  std::signal(SIGPIPE, SIG_IGN);
  std::string error;
  X509_STORE* store = BuildCaStore(options.extra_ca_file, &error);
  if (store == nullptr) throw std::runtime_error(error);
  impl_ = std::make_unique<Impl>(std::move(options), guard, clock, store);
}

HttpSender::~HttpSender() = default;

size_t HttpSender::idle_connections() const {
  std::lock_guard<std::mutex> lock(impl_->pool_mutex);
  return impl_->idle.size();
}

SendResult HttpSender::Post(std::string_view url, const Headers& headers, std::string_view body,
                            std::string_view content_type) {
  const auto started = SteadyClock::now();
  SendResult result;
  DeliveryAttempt& a = result.attempt;
  a.started_at = impl_->clock.NowMs();
  for (const auto& h : headers) a.request_headers.push_back(h);
  auto finish = [&]() -> SendResult {
    a.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - started).count();
    return std::move(result);
  };

  std::string url_error;
  const auto target = ParseTarget(url, url_error);
  if (!target) {
    a.cause = FailureCause::kInvalidUrl;
    a.error = url_error;
    return finish();
  }
  const CheckResult checked = impl_->guard.Check(target->host, target->port);
  if (!checked.ok()) {
    a.cause = checked.cause;
    a.error = checked.error;
    return finish();
  }

  const auto deadline = started + std::chrono::milliseconds(impl_->options.request_timeout_ms);
  std::vector<std::string> connect_errors;
  for (const IpAddress& ip : checked.addresses) {
    const std::string endpoint =
        (ip.family == AF_INET6 ? "[" + ip.ToString() + "]" : ip.ToString()) + ":" +
        std::to_string(target->port);
    const std::string key = target->host + "|" + std::to_string(target->port) + "|" + ip.ToString();
    bool reused = false;
    auto client = impl_->Acquire(key, reused);
    if (!client) client = impl_->NewClient(*target, ip);

    httplib::Request req;
    req.method = "POST";
    req.path = target->path_and_query;
    req.headers.emplace("Content-Type", std::string(content_type));
    req.headers.emplace("User-Agent", impl_->options.user_agent);
    for (const auto& [name, value] : headers) req.headers.emplace(name, value);
    req.body.assign(body.data(), body.size());

    // Keep the first kResponseExcerptLimit bytes for the attempt log, count the rest, and stop
    // reading at the hard cap (returning false cancels the transfer and drops the connection).
    std::string excerpt;
    size_t total = 0;
    bool too_large = false;
    const size_t cap = impl_->options.max_response_bytes;
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      if (excerpt.size() < kResponseExcerptLimit) {
        excerpt.append(data, std::min(n, kResponseExcerptLimit - excerpt.size()));
      }
      total += n;
      if (total > cap) {
        too_large = true;
        return false;
      }
      return true;
    };

    httplib::Response res;
    httplib::Error err = httplib::Error::Success;
    bool fired = false;
    if (SteadyClock::now() >= deadline) {
      fired = true;
      err = httplib::Error::Canceled;
    } else {
      auto watch = impl_->watchdog.Arm(client.get(), deadline);
      tls_verify_error = X509_V_OK;
      client->send(req, res, err);
      fired = Watchdog::Disarm(*watch);
      // A kept-alive connection that the receiver closed while it sat idle in the pool fails
      // before any response: that says nothing about the receiver, so send once more on a new
      // connection, as browsers and curl do. (Had the request reached it, the receiver sees it
      // twice: at-least-once, deduplicated by webhook-id.)
      if (reused && !fired && res.status <= 0 &&
          (err == httplib::Error::Write || err == httplib::Error::Read) &&
          SteadyClock::now() < deadline) {
        client = impl_->NewClient(*target, ip);
        reused = false;
        res = httplib::Response{};
        err = httplib::Error::Success;
        excerpt.clear();
        total = 0;
        too_large = false;
        auto retry_watch = impl_->watchdog.Arm(client.get(), deadline);
        client->send(req, res, err);
        fired = Watchdog::Disarm(*retry_watch);
      }
    }

    result.remote_address = ip.ToString();
    result.reused_connection = reused;
    a.request_headers.assign(req.headers.begin(), req.headers.end());
    if (res.status > 0) a.http_status = res.status;
    a.response_headers.assign(res.headers.begin(), res.headers.end());
    a.response_excerpt = std::move(excerpt);
    a.response_truncated = total > a.response_excerpt.size();

    const bool timed_out = fired || SteadyClock::now() >= deadline;
    const std::string timeout_text = "no complete response from " + endpoint + " within " +
                                     std::to_string(impl_->options.request_timeout_ms) + " ms";
    switch (err) {
      case httplib::Error::Success:
        if (res.status >= 200 && res.status < 300) {
          a.cause = FailureCause::kNone;
        } else {
          a.cause = FailureCause::kHttpStatus;
          a.error = "receiver answered HTTP " + std::to_string(res.status);
          if (res.status >= 300 && res.status < 400) {
            a.error += " (redirect to \"" + res.get_header_value("Location") +
                       "\" not followed: webhook URLs must point at the final receiver)";
          }
        }
        break;
      case httplib::Error::Connection:
        a.cause = FailureCause::kConnect;
        a.error = "could not connect to " + endpoint + " (refused or unreachable)";
        if (timed_out) {
          a.cause = FailureCause::kTimeout;
          a.error = timeout_text;
        }
        break;
      case httplib::Error::ConnectionTimeout:
        a.cause = FailureCause::kTimeout;
        a.error = "connecting to " + endpoint + " timed out after " +
                  std::to_string(impl_->options.connect_timeout_ms) + " ms";
        break;
      case httplib::Error::BindIPAddress:
        a.cause = FailureCause::kConnect;
        a.error = "could not bind to egress interface \"" + impl_->options.egress_interface + "\"";
        break;
      case httplib::Error::SSLConnection: {
        a.cause = timed_out ? FailureCause::kTimeout : FailureCause::kTls;
        a.error = timed_out ? timeout_text : "TLS handshake with " + endpoint + " failed";
        const unsigned long ssl_error = ERR_peek_last_error();
        if (!timed_out && tls_verify_error != X509_V_OK) {
          // Verification happens in the handshake: say which check failed and for which name.
          a.error = "certificate of " + target->host +
                    " not trusted: " + X509_verify_cert_error_string(tls_verify_error);
        } else if (!timed_out && ssl_error != 0 && ERR_reason_error_string(ssl_error) != nullptr) {
          a.error += std::string(": ") + ERR_reason_error_string(ssl_error);
        }
        ERR_clear_error();
        break;
      }
      case httplib::Error::SSLServerVerification: {
        a.cause = FailureCause::kTls;
        const long verify = client->get_openssl_verify_result();
        a.error = "certificate of " + target->host + " not trusted: " +
                  (verify != X509_V_OK ? X509_verify_cert_error_string(verify)
                                       : "it does not match the host name");
        break;
      }
      case httplib::Error::SSLLoadingCerts:
        a.cause = FailureCause::kTls;
        a.error = "could not load the trusted CA certificates";
        break;
      case httplib::Error::Read:
      case httplib::Error::Write:
        if (timed_out) {
          a.cause = FailureCause::kTimeout;
          a.error = timeout_text;
        } else {
          a.cause = FailureCause::kConnectionClosed;
          a.error = err == httplib::Error::Write
                        ? "connection to " + endpoint + " closed while sending the request"
                        : "connection to " + endpoint + " closed before a complete response";
        }
        break;
      case httplib::Error::Canceled:
        if (too_large) {
          a.cause = FailureCause::kResponseTooLarge;
          a.error = "response body exceeds " + std::to_string(cap) + " bytes; stopped reading";
        } else if (timed_out) {
          a.cause = FailureCause::kTimeout;
          a.error = timeout_text;
        } else {
          a.cause = FailureCause::kInternal;
          a.error = "request canceled";
        }
        break;
      default:
        a.cause = timed_out ? FailureCause::kTimeout : FailureCause::kInternal;
        a.error = timed_out ? timeout_text : "HTTP client error: " + httplib::to_string(err);
        break;
    }
    ERR_clear_error();  // the OpenSSL error queue is per thread: leave it clean for the next send

    if (a.cause == FailureCause::kConnect && !timed_out) {
      // Try the next checked address (IPv6 first on a host without IPv6, say); a refused or
      // unreachable address proves nothing about the others.
      connect_errors.push_back(a.error);
      if (&ip != &checked.addresses.back()) {
        const int64_t started_at = a.started_at;
        a = DeliveryAttempt{};
        a.started_at = started_at;
        for (const auto& h : headers) a.request_headers.push_back(h);
        continue;
      }
      if (connect_errors.size() > 1) {
        a.error.clear();
        for (const auto& e : connect_errors) a.error += (a.error.empty() ? "" : "; ") + e;
      }
      return finish();
    }
    if (err == httplib::Error::Success && !fired) {
      impl_->Release(key, std::move(client));
    }
    if (a.cause != FailureCause::kNone) {
      spdlog::debug("POST {} failed: {} ({})", target->host, a.error, ToString(a.cause));
    }
    return finish();
  }
  return finish();  // not reached: Check never returns ok with no addresses
}

}  // namespace mambo::delivery
