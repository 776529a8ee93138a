#include "delivery/http_sender.h"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mambo/text.h"
#include "mambo/validation.h"
#include "util/text.h"
#include "util/thread.h"

namespace mambo::delivery {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A CA store with the system roots plus the operator's extra CA file. libcurl's CURLOPT_CAINFO
// would *replace* the system roots, so the store is built here, once, and handed to every new
// TLS connection (SSL_CTX_set1_cert_store, a reference count): parsing the system bundle costs
// milliseconds, and doing it per connection was once 82 % of the engine's CPU.
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

// A host as it appears in a URL, a Host header or libcurl's address lists: IPv6 literals in
// brackets.
std::string Bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

std::string HostPort(const std::string& host, uint16_t port) {
  return Bracketed(host) + ":" + std::to_string(port);
}

void GlobalInit() {
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  if (!done) throw std::runtime_error("libcurl could not be initialised");
}

}  // namespace

struct HttpSender::Impl {
  // One request, from PostAsync to its `done` callback. Owned by the loop thread.
  struct Transfer {
    Impl* impl = nullptr;
    std::string url;
    Headers headers;
    std::string body;
    std::string content_type;
    Done done;
    SendResult result;
    SteadyClock::time_point started;
    Target target;
    CheckResult checked;
    CURL* easy = nullptr;
    curl_slist* header_list = nullptr;
    curl_slist* resolve_list = nullptr;
    std::string blocked;  // why OpenSocket refused an address, if it did
    std::string excerpt;
    size_t header_bytes = 0;  // of the response headers kept so far
    size_t total = 0;
    bool too_large = false;
    char error_buffer[CURL_ERROR_SIZE] = {};

    ~Transfer() {
      curl_slist_free_all(header_list);
      curl_slist_free_all(resolve_list);
    }
  };
  using TransferPtr = std::unique_ptr<Transfer>;

  HttpSenderOptions options;
  const AddressGuard& guard;
  const Clock& clock;
  X509_STORE* ca_store = nullptr;
  CURLM* multi = nullptr;
  // --egress-interface for libcurl: "host!" + an address, "if!" + an interface name (never a
  // host name to look up).
  std::string egress;

  std::mutex mu;                                // guards commands and stopping
  std::vector<std::function<void()>> commands;  // run on the loop thread, in order
  bool stopping = false;
  std::atomic<std::thread::id> loop_id;

  // Loop thread only.
  std::unordered_map<CURL*, TransferPtr> running;
  std::unordered_map<std::string, std::vector<TransferPtr>> lookups;  // "host|port" -> waiting
  std::vector<CURL*> spare;                                           // easy handles to reuse

  std::atomic<int64_t> open_sockets{0};
  std::atomic<int64_t> busy{0};  // requests accepted and not finished

  std::mutex resolve_mu;
  std::condition_variable resolve_cv;
  std::deque<std::function<void()>> resolve_jobs;
  bool resolve_stopping = false;
  std::vector<std::thread> resolvers;
  std::thread loop;

  Impl(HttpSenderOptions o, const AddressGuard& g, const Clock& c, X509_STORE* store)
      : options(std::move(o)), guard(g), clock(c), ca_store(store) {
    multi = curl_multi_init();
    if (multi == nullptr) throw std::runtime_error("libcurl: could not create a multi handle");
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(options.max_idle_total));
    if (!options.egress_interface.empty()) {
      egress =
          (IpAddress::Parse(options.egress_interface) ? "host!" : "if!") + options.egress_interface;
    }
    for (int i = 0; i < 2; ++i) resolvers.emplace_back([this] { ResolveLoop(); });
    loop = std::thread([this] { Run(); });
  }

  ~Impl() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    curl_multi_wakeup(multi);
    loop.join();  // returns once every request has finished and no lookup is outstanding
    {
      std::lock_guard lock(resolve_mu);
      resolve_stopping = true;
    }
    resolve_cv.notify_all();
    for (auto& t : resolvers) t.join();
    curl_multi_cleanup(multi);  // closes the kept-alive connections
    for (CURL* e : spare) curl_easy_cleanup(e);
    X509_STORE_free(ca_store);
  }

  void Enqueue(std::function<void()> command) {
    bool was_empty;
    {
      std::lock_guard lock(mu);
      was_empty = commands.empty();
      commands.push_back(std::move(command));
    }
    // The loop drains all commands at once: one wake-up per batch, none from the loop itself.
    if (was_empty && std::this_thread::get_id() != loop_id.load()) curl_multi_wakeup(multi);
  }

  void Run() {
    SetUpThread("sender", options.nice);
    loop_id = std::this_thread::get_id();
    std::vector<std::function<void()>> batch;
    while (true) {
      {
        std::lock_guard lock(mu);
        batch.swap(commands);
        if (stopping && batch.empty() && running.empty() && lookups.empty()) return;
      }
      for (auto& command : batch) command();
      batch.clear();
      int still_running = 0;
      curl_multi_perform(multi, &still_running);
      Reap();
      {
        std::lock_guard lock(mu);
        if (!commands.empty()) continue;  // queued by callbacks just now
      }
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
  }

  void ResolveLoop() {
    SetUpThread("resolver", options.nice);
    std::unique_lock lock(resolve_mu);
    while (true) {
      resolve_cv.wait(lock, [&] { return resolve_stopping || !resolve_jobs.empty(); });
      if (resolve_jobs.empty()) return;
      auto job = std::move(resolve_jobs.front());
      resolve_jobs.pop_front();
      lock.unlock();
      job();
      lock.lock();
    }
  }

  // Loop thread: the URL, then the guard's verdict (now, or from a resolver thread).
  void Begin(TransferPtr t) {
    std::string url_error;
    auto target = ParseTarget(t->url, url_error);
    if (!target) {
      Fail(std::move(t), FailureCause::kInvalidUrl, url_error);
      return;
    }
    t->target = std::move(*target);
    if (auto verdict = guard.CheckNow(t->target.host, t->target.port)) {
      Start(std::move(t), std::move(*verdict));
      return;
    }
    // Not cached: one lookup per name at a time, however many requests wait for it.
    const std::string key = t->target.host + "|" + std::to_string(t->target.port);
    auto& waiting = lookups[key];
    waiting.push_back(std::move(t));
    if (waiting.size() > 1) return;
    const std::string host = waiting.front()->target.host;
    const uint16_t port = waiting.front()->target.port;
    {
      std::lock_guard lock(resolve_mu);
      resolve_jobs.push_back([this, key, host, port] {
        CheckResult verdict = guard.Check(host, port);
        Enqueue([this, key, verdict = std::move(verdict)] {
          auto node = lookups.extract(key);
          for (auto& waiter : node.mapped()) Start(std::move(waiter), verdict);
        });
      });
    }
    resolve_cv.notify_one();
  }

  void Start(TransferPtr t, CheckResult checked) {
    if (!checked.ok()) {
      Fail(std::move(t), checked.cause, checked.error);
      return;
    }
    t->checked = std::move(checked);
    CURL* e;
    if (!spare.empty()) {
      e = spare.back();
      spare.pop_back();
      curl_easy_reset(e);
    } else {
      e = curl_easy_init();
      if (e == nullptr) {
        Fail(std::move(t), FailureCause::kInternal, "libcurl: out of memory");
        return;
      }
    }
    t->easy = e;
    Configure(*t);
    if (CURLMcode rc = curl_multi_add_handle(multi, e); rc != CURLM_OK) {
      spare.push_back(e);
      Fail(std::move(t), FailureCause::kInternal,
           std::string("libcurl: ") + curl_multi_strerror(rc));
      return;
    }
    running.emplace(e, std::move(t));
  }

  void Configure(Transfer& t) {
    CURL* e = t.easy;
    const Target& target = t.target;
    // The URL rebuilt from what was parsed and checked, so libcurl goes where the guard looked.
    curl_easy_setopt(
        e, CURLOPT_URL,
        ("https://" + HostPort(target.host, target.port) + target.path_and_query).c_str());
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
    // Never a proxy, whatever https_proxy, HTTPS_PROXY or ALL_PROXY say: a proxy resolves the
    // receiver's name itself, around the address guard. ("" is libcurl's "no proxy, ignore the
    // environment".)
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);  // already percent-encoded by Boost.URL
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.error_buffer);
    if (!IpAddress::Parse(target.host)) {
      // The name maps to the checked addresses only; SNI, Host and the certificate check keep
      // the name.
      std::string entry = target.host + ":" + std::to_string(target.port) + ":";
      for (size_t i = 0; i < t.checked.addresses.size(); ++i) {
        if (i > 0) entry += ",";
        entry += Bracketed(t.checked.addresses[i].ToString());
      }
      t.resolve_list = curl_slist_append(nullptr, entry.c_str());
      curl_easy_setopt(e, CURLOPT_RESOLVE, t.resolve_list);
    }
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &OpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, &t);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &CloseSocket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    if (!egress.empty()) curl_easy_setopt(e, CURLOPT_INTERFACE, egress.c_str());
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout_ms));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options.request_timeout_ms));
    curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, static_cast<long>(options.max_idle_ms / 1000));
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    // Certificates: chain and name checked by libcurl/OpenSSL against our store (SetCaStore).
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(e, CURLOPT_CAPATH, nullptr);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, &SetCaStore);
    curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, ca_store);

    auto add = [&](const std::string& name, const std::string& value) {
      // "Name;" is libcurl's way to send an empty value ("Name:" would remove the header).
      const std::string line = value.empty() ? name + ";" : name + ": " + value;
      t.header_list = curl_slist_append(t.header_list, line.c_str());
    };
    add("Content-Type", t.content_type);
    add("User-Agent", options.user_agent);
    for (const auto& [name, value] : t.headers) add(name, value);
    // Not sent: libcurl's default Accept, and Expect: 100-continue (a round trip for nothing).
    t.header_list = curl_slist_append(t.header_list, "Accept:");
    t.header_list = curl_slist_append(t.header_list, "Expect:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t.header_list);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t.body.data());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.body.size()));
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);

    // The log shows the request as sent: libcurl adds Host (without :443) and Content-Length.
    auto& sent = t.result.attempt.request_headers;
    sent.clear();
    sent.emplace_back(
        "Host", target.port == 443 ? Bracketed(target.host) : HostPort(target.host, target.port));
    sent.emplace_back("Content-Type", t.content_type);
    sent.emplace_back("User-Agent", options.user_agent);
    for (const auto& h : t.headers) sent.push_back(h);
    sent.emplace_back("Content-Length", std::to_string(t.body.size()));
  }

  static curl_socket_t OpenSocket(void* clientp, curlsocktype, curl_sockaddr* address) {
    auto* t = static_cast<Transfer*>(clientp);
    // The guard checked the name's addresses; libcurl was told to use those. Checked again
    // here, on the exact address about to be connected to, so no path around the guard exists.
    const auto ip = IpAddress::FromSockaddr(&address->addr);
    bool listed = false;
    if (ip) {
      for (const IpAddress& a : t->checked.addresses) listed = listed || a == *ip;
    }
    if (!ip || !listed || !t->impl->guard.Allowed(*ip)) {
      spdlog::debug("sender: refused to connect to {} for {}{}",
                    ip ? Describe(*ip, Classify(*ip)) : "an address of an unknown family",
                    t->target.host, listed ? "" : " (not a checked address)");
      t->blocked = ip && !listed ? "refused to connect: an address of " + t->target.host +
                                       " that the address guard did not check"
                   : ip ? RefusalText(t->target.host, {Classify(*ip).kind})
                        : "refused to connect: an address of an unknown family";
      return CURL_SOCKET_BAD;
    }
    const int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd >= 0) t->impl->open_sockets.fetch_add(1);
    return fd;
  }

  static int CloseSocket(void* clientp, curl_socket_t fd) {
    static_cast<Impl*>(clientp)->open_sockets.fetch_sub(1);
    return close(fd);
  }

  static CURLcode SetCaStore(CURL*, void* ssl_ctx, void* store) {
    SSL_CTX_set1_cert_store(static_cast<SSL_CTX*>(ssl_ctx), static_cast<X509_STORE*>(store));
    return CURLE_OK;
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* clientp) {
    auto* t = static_cast<Transfer*>(clientp);
    AddResponseHeadLine(std::string_view(data, size * count), t->result.attempt, t->header_bytes);
    return size * count;
  }

  // Keeps the first kResponseExcerptLimit bytes for the attempt log, counts the rest, and stops
  // at the hard cap (a short return aborts the transfer and drops the connection).
  static size_t OnBody(char* data, size_t size, size_t count, void* clientp) {
    auto* t = static_cast<Transfer*>(clientp);
    const size_t n = size * count;
    if (t->excerpt.size() < kResponseExcerptLimit) {
      t->excerpt.append(data, std::min(n, kResponseExcerptLimit - t->excerpt.size()));
    }
    t->total += n;
    if (t->total > t->impl->options.max_response_bytes) {
      t->too_large = true;
      return 0;
    }
    return n;
  }

  void Reap() {
    CURLMsg* msg;
    int left = 0;
    while ((msg = curl_multi_info_read(multi, &left)) != nullptr) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      const CURLcode code = msg->data.result;
      curl_multi_remove_handle(multi, e);
      auto node = running.extract(e);
      if (node.empty()) continue;
      TransferPtr t = std::move(node.mapped());
      Explain(*t, code);
      t->easy = nullptr;
      spare.push_back(e);
      Finish(std::move(t));
    }
  }

  // The attempt from libcurl's verdict: status, or which stage failed and why.
  void Explain(Transfer& t, CURLcode code) {
    DeliveryAttempt& a = t.result.attempt;
    CURL* e = t.easy;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (status > 0) a.http_status = static_cast<int>(status);
    char* ip = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
    if (ip != nullptr && *ip != '\0') t.result.remote_address = ip;
    long connects = 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    t.result.reused_connection = status > 0 && connects == 0;
    a.response_truncated = t.total > t.excerpt.size();
    a.response_excerpt = ToValidUtf8(t.excerpt);

    const Target& target = t.target;
    const std::string endpoint = t.result.remote_address.empty()
                                     ? HostPort(target.host, target.port)
                                     : HostPort(t.result.remote_address, target.port);
    const int64_t elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t.started)
            .count();
    const std::string detail =
        t.error_buffer[0] != '\0' ? t.error_buffer : curl_easy_strerror(code);
    switch (code) {
      case CURLE_OK:
        if (status >= 200 && status < 300) {
          a.cause = FailureCause::kNone;
        } else {
          a.cause = FailureCause::kHttpStatus;
          a.error = "receiver answered HTTP " + std::to_string(status);
          if (status >= 300 && status < 400) {
            a.error += " (redirect to \"" +
                       HeaderValue(a.response_headers, "Location").value_or("") +
                       "\" not followed: webhook URLs must point at the final receiver)";
          }
        }
        break;
      case CURLE_COULDNT_CONNECT: {
        if (!t.blocked.empty()) {
          a.cause = FailureCause::kBlockedAddress;
          a.error = t.blocked;
          break;
        }
        std::string tried;
        for (const IpAddress& addr : t.checked.addresses) {
          tried += (tried.empty() ? "" : ", ") + HostPort(addr.ToString(), target.port);
        }
        a.cause = FailureCause::kConnect;
        a.error = "could not connect to " + tried + " (refused or unreachable)";
        break;
      }
      case CURLE_INTERFACE_FAILED:
        a.cause = FailureCause::kConnect;
        a.error = "could not bind to egress interface \"" + options.egress_interface + "\"";
        break;
      case CURLE_OPERATION_TIMEDOUT: {
        a.cause = FailureCause::kTimeout;
        curl_off_t tls_done = 0;
        curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &tls_done);
        if (tls_done == 0 && elapsed < options.request_timeout_ms) {
          a.error = "connecting to " + endpoint + " timed out after " +
                    std::to_string(options.connect_timeout_ms) + " ms";
        } else {
          a.error = "no complete response from " + endpoint + " within " +
                    std::to_string(options.request_timeout_ms) + " ms";
        }
        break;
      }
      case CURLE_PEER_FAILED_VERIFICATION: {
        a.cause = FailureCause::kTls;
        long verify = X509_V_OK;
        curl_easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &verify);
        a.error = "certificate of " + target.host + " not trusted: " +
                  (verify != X509_V_OK ? X509_verify_cert_error_string(verify) : detail);
        break;
      }
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CERTPROBLEM:
      case CURLE_SSL_CIPHER:
      case CURLE_SSL_ISSUER_ERROR:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_ENGINE_INITFAILED:
      case CURLE_SSL_ENGINE_NOTFOUND:
      case CURLE_SSL_ENGINE_SETFAILED:
      case CURLE_SSL_SHUTDOWN_FAILED:
      case CURLE_SSL_CRL_BADFILE:
      case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
      case CURLE_SSL_INVALIDCERTSTATUS:
      case CURLE_SSL_CLIENTCERT:
        a.cause = FailureCause::kTls;
        a.error = "TLS handshake with " + endpoint + " failed: " + detail;
        break;
      case CURLE_WRITE_ERROR:
        a.cause = t.too_large ? FailureCause::kResponseTooLarge : FailureCause::kInternal;
        a.error = t.too_large
                      ? "response body exceeds " + std::to_string(options.max_response_bytes) +
                            " bytes; stopped reading"
                      : "HTTP client error: " + detail;
        break;
      case CURLE_SEND_ERROR:
        a.cause = FailureCause::kConnectionClosed;
        a.error = "connection to " + endpoint + " closed while sending the request";
        break;
      case CURLE_RECV_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
        a.cause = FailureCause::kConnectionClosed;
        a.error = "connection to " + endpoint + " closed before a complete response";
        break;
      case CURLE_COULDNT_RESOLVE_HOST:
        a.cause = FailureCause::kDns;
        a.error = "DNS lookup of " + target.host + " failed: " + detail;
        break;
      default:
        a.cause = FailureCause::kInternal;
        a.error = std::string("HTTP client error: ") + curl_easy_strerror(code) +
                  (t.error_buffer[0] != '\0' ? std::string(" (") + t.error_buffer + ")" : "");
        break;
    }
    if (a.cause != FailureCause::kNone) {
      spdlog::debug("POST {} failed: {} ({})", target.host, a.error, ToString(a.cause));
    }
  }

  void Fail(TransferPtr t, FailureCause cause, std::string error) {
    t->result.attempt.cause = cause;
    t->result.attempt.error = std::move(error);
    Finish(std::move(t));
  }

  void Finish(TransferPtr t) {
    t->result.attempt.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - t->started)
            .count();
    // libcurl's and OpenSSL's messages can quote what the peer sent.
    t->result.attempt.error = ToValidUtf8(t->result.attempt.error);
    ERR_clear_error();  // OpenSSL's error queue is per thread: clean for the next request
    busy.fetch_sub(1);
    Done done = std::move(t->done);
    SendResult result = std::move(t->result);
    t.reset();
    done(std::move(result));
  }
};

void AddResponseHeadLine(std::string_view line, DeliveryAttempt& a, size_t& kept_bytes) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  if (line.rfind("HTTP/", 0) == 0) {
    a.response_headers.clear();
    a.response_headers_truncated = false;
    kept_bytes = 0;
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    std::string name = ToValidUtf8(Trim(line.substr(0, colon)));
    std::string value = ToValidUtf8(Trim(line.substr(colon + 1)));
    const size_t bytes = name.size() + value.size();
    if (a.response_headers.size() >= kMaxStoredResponseHeaders ||
        kept_bytes + bytes > kMaxStoredResponseHeaderBytes) {
      a.response_headers_truncated = true;
    } else {
      kept_bytes += bytes;
      a.response_headers.emplace_back(std::move(name), std::move(value));
    }
  }
}

std::optional<std::string> HeaderValue(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return std::nullopt;
}

HttpSender::HttpSender(HttpSenderOptions options, const AddressGuard& guard, const Clock& clock) {
  std::signal(SIGPIPE, SIG_IGN);
  GlobalInit();
  std::string error;
  X509_STORE* store = BuildCaStore(options.extra_ca_file, &error);
  if (store == nullptr) throw std::runtime_error(error);
  impl_ = std::make_unique<Impl>(std::move(options), guard, clock, store);
}

HttpSender::~HttpSender() = default;

size_t HttpSender::idle_connections() const {
  const int64_t idle = impl_->open_sockets.load() - impl_->busy.load();
  return idle > 0 ? static_cast<size_t>(idle) : 0;
}

void HttpSender::PostAsync(std::string_view url, Headers headers, std::string body, Done done,
                           std::string_view content_type) {
  auto t = std::make_unique<Impl::Transfer>();
  t->impl = impl_.get();
  t->url = std::string(url);
  t->headers = std::move(headers);
  t->body = std::move(body);
  t->content_type = std::string(content_type);
  t->done = std::move(done);
  t->started = SteadyClock::now();
  t->result.attempt.started_at = impl_->clock.NowMs();
  t->result.attempt.request_headers = t->headers;
  impl_->busy.fetch_add(1);
  Impl* impl = impl_.get();
  // std::function needs a copyable callable: the loop runs every command exactly once (it does
  // not stop before its queue is empty) and takes ownership back there.
  impl_->Enqueue([impl, raw = t.release()] { impl->Begin(Impl::TransferPtr(raw)); });
}

SendResult HttpSender::Post(std::string_view url, const Headers& headers, std::string_view body,
                            std::string_view content_type) {
  std::promise<SendResult> promise;
  auto result = promise.get_future();
  PostAsync(
      url, headers, std::string(body),
      [&promise](SendResult r) { promise.set_value(std::move(r)); }, content_type);
  return result.get();
}

}  // namespace mambo::delivery
