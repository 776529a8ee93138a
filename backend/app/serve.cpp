// `webhookd serve`: the API, the console's static files, health endpoints and (when it lands)
// the delivery engine, in one process. SIGTERM/SIGINT stop accepting, let in-flight requests
// finish, and close the database cleanly.
#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "api/api_server.h"
#include "app/options.h"
#include "crypto/crypto.h"
#include "delivery/address_guard.h"
#include "delivery/engine.h"
#include "delivery/http_sender.h"
#include "delivery/retry_policy.h"
#include "http/front_server.h"
#include "store/sqlite_store.h"
#include "util/thread.h"

namespace mambo::app {
namespace {

bool SplitHostPort(const std::string& listen, std::string& host, int& port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string p = listen.substr(colon + 1);
  if (p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  port = std::stoi(p);
  return port <= 65535;
}

// The HTTP front's connections and refusals for /metrics.
std::string HttpFrontMetrics(const http::FrontServer& front) {
  const http::FrontServer::Stats s = front.stats();
  return "# HELP mambo_http_connections Client connections open.\n"
         "# TYPE mambo_http_connections gauge\nmambo_http_connections " +
         std::to_string(s.connections) +
         "\n# HELP mambo_http_refused_total Requests the front answered with an error (limits, "
         "malformed, too slow) since start.\n# TYPE mambo_http_refused_total counter\n"
         "mambo_http_refused_total " +
         std::to_string(s.refused) +
         "\n# HELP mambo_http_timed_out_total Of those, requests not received in time (408).\n"
         "# TYPE mambo_http_timed_out_total counter\nmambo_http_timed_out_total " +
         std::to_string(s.timed_out) + "\n";
}

}  // namespace

int RunServe(const ServeOptions& o) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(o.listen, host, port)) {
    std::fprintf(stderr, "webhookd: --listen must be HOST:PORT (got \"%s\")\n", o.listen.c_str());
    return 2;
  }
  if (o.tls_cert.empty() != o.tls_key.empty()) {
    std::fprintf(stderr, "webhookd: --tls-cert and --tls-key go together\n");
    return 2;
  }
  struct stat st {};
  if (!o.web_root.empty() && (::stat(o.web_root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))) {
    std::fprintf(stderr, "webhookd: --web-root %s is not a directory\n", o.web_root.c_str());
    return 2;
  }
  if (::mkdir(o.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    std::fprintf(stderr, "webhookd: cannot create --data-dir %s: %s\n", o.data_dir.c_str(),
                 std::strerror(errno));
    return 1;
  }
  const delivery::CidrList allow = delivery::ParseCidrList(o.allow_private_targets);
  if (allow.error) {
    std::fprintf(stderr, "webhookd: --allow-private-targets: %s\n", allow.error->c_str());
    return 2;
  }
  std::string key;
  if (auto err = crypto::LoadOrCreateMainKey(MainKeyPath(o.data_dir, o.master_key_file),
                                             o.master_key_file.empty(), key)) {
    std::fprintf(stderr, "webhookd: %s\n", err->c_str());
    return 1;
  }

  // Block the stop signals in every thread; one thread waits for them (no async-signal games).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  // One serve per data dir: the queue's leases assume a single owner, and a second process
  // would double-send. The lock dies with the process, so a crash never leaves it stale.
  const std::string lock_path = o.data_dir + "/webhookd.lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    std::fprintf(stderr, "webhookd: another webhookd serve is using --data-dir %s\n",
                 o.data_dir.c_str());
    return 1;
  }

  std::unique_ptr<store::SqliteStore> store;
  try {
    store = std::make_unique<store::SqliteStore>(o.data_dir, crypto::SecretBox(key));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webhookd: %s\n", e.what());
    return 1;
  }

  // Each connection is a descriptor: thousands of clients need more than the usual soft limit
  // of 1,024, and the hard limit is the operator's to set.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  http::FrontOptions front;
  front.workers = o.http_threads;
  front.limits.max_body_bytes = o.max_body_bytes;
  front.max_connections = o.max_connections;
  front.request_timeout_ms = o.http_request_timeout_ms;
  front.idle_timeout_ms = o.http_idle_timeout_ms;
  front.answer_headers = api::SecurityHeaders();
  front.answer_headers.emplace("Cache-Control", "no-store");
  front.error_body = api::ErrorJson;
  if (!o.tls_cert.empty()) {
    std::string error;
    front.tls = http::LoadServerTls(o.tls_cert, o.tls_key, &error);
    if (!front.tls) {
      std::fprintf(stderr, "webhookd: --tls-cert/--tls-key: %s\n", error.c_str());
      return 1;
    }
  }
  auto server = std::make_unique<http::FrontServer>(std::move(front));
  // Nagle + delayed ACK cost ~22 ms per keep-alive request otherwise (measured here with
  // httplib's client: 45 req/s on one keep-alive connection without it, 8,700 with it).
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(10000);
  server->set_keep_alive_timeout(o.http_idle_timeout_ms / 1000);

  // The delivery engine: guard -> sender -> engine, all on one clock.
  delivery::SystemClock clock;
  delivery::CachingResolverFns resolver{delivery::Resolve, nullptr};
  if (o.dns_cache_ms > 0)
    resolver = delivery::CachingResolver(delivery::Resolve, clock, o.dns_cache_ms);
  delivery::AddressGuard guard(allow.cidrs, resolver.resolve, resolver.cached);
  delivery::HttpSenderOptions sender_options;
  sender_options.connect_timeout_ms = o.connect_timeout_ms;
  sender_options.request_timeout_ms = o.request_timeout_ms;
  sender_options.extra_ca_file = o.ca_file;
  sender_options.egress_interface = o.egress_interface;
  sender_options.user_agent = std::string("mambo-webhooks/") + MAMBO_VERSION;
  sender_options.nice = o.delivery_nice;
  // Keep as many connections alive as may be in use at once: a smaller pool closes and
  // re-handshakes connections under load.
  sender_options.max_idle_total = std::max<size_t>(256, static_cast<size_t>(o.workers));
  std::unique_ptr<delivery::HttpSender> sender;
  try {
    sender = std::make_unique<delivery::HttpSender>(sender_options, guard, clock);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webhookd: %s\n", e.what());
    return 2;
  }
  std::vector<int64_t> schedule = delivery::DefaultRetryScheduleMs();
  for (auto& delay : schedule)
    delay = static_cast<int64_t>(static_cast<double>(delay) / o.retry_speedup);
  // Jitter only: no security depends on it, so a seeded engine behind a mutex is enough.
  auto rng = std::make_shared<std::pair<std::mutex, std::mt19937_64>>();
  rng->second.seed(std::random_device{}());
  const delivery::RetryPolicy policy(
      [rng] {
        std::lock_guard lock(rng->first);
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng->second);
      },
      schedule);
  delivery::EngineOptions engine_options;
  engine_options.workers = o.workers;
  engine_options.nice = o.delivery_nice;
  engine_options.per_endpoint_concurrency = o.per_endpoint_concurrency;
  engine_options.per_team_concurrency = o.per_team_concurrency;
  engine_options.lease_ms = o.lease_ms > 0 ? o.lease_ms : 2 * o.request_timeout_ms + 30000;
  engine_options.auto_disable_after_ms = o.auto_disable_after_ms;
  engine_options.version = MAMBO_VERSION;
  delivery::DeliveryEngine engine(*store, *sender, policy, clock, engine_options);

  api::ApiOptions api_options;
  api_options.max_body_bytes = o.max_body_bytes;
  api_options.token_cache_ms = o.token_cache_ms;
  api_options.max_webhooks_per_team = o.max_webhooks_per_team;
  api_options.sends_per_minute = o.sends_per_minute;
  api_options.version = MAMBO_VERSION;
  api::ApiServer api(
      *store, [&clock] { return clock.NowMs(); }, api_options, [&engine] { engine.Wake(); });
  api.Register(*server);
  server->Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    const store::Store::WriteStats w = store->WriteStatistics();
    res.set_content(
        engine.PrometheusText() +
            "# HELP mambo_store_commits_total Transactions committed by the store writer (each "
            "with changes costs one fsync).\n# TYPE mambo_store_commits_total "
            "counter\nmambo_store_commits_total " +
            std::to_string(w.commits) +
            "\n# HELP mambo_store_writes_total Writes committed; several share a commit (group "
            "commit).\n# TYPE mambo_store_writes_total counter\nmambo_store_writes_total " +
            std::to_string(w.writes) +
            "\n# HELP mambo_store_write_queue Writes waiting for the store writer.\n"
            "# TYPE mambo_store_write_queue gauge\nmambo_store_write_queue " +
            std::to_string(w.queued) +
            "\n# HELP mambo_store_wal_frames Pages in the write-ahead log at the last "
            "checkpoint.\n# TYPE mambo_store_wal_frames gauge\nmambo_store_wal_frames " +
            std::to_string(w.wal_frames) +
            "\n# HELP mambo_store_wal_checkpointed_frames Of those, copied into the database "
            "file.\n# TYPE mambo_store_wal_checkpointed_frames gauge\n"
            "mambo_store_wal_checkpointed_frames " +
            std::to_string(w.wal_checkpointed) + "\n" + HttpFrontMetrics(*server),
        "text/plain; version=0.0.4");
  });

  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  server->Get("/readyz", [&](const httplib::Request&, httplib::Response& res) {
    const bool ok = store->Healthy();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "{\"status\":\"ready\"}" : "{\"status\":\"database unavailable\"}",
                    "application/json");
  });
  if (!o.web_root.empty()) {
    server->set_file_extension_and_mimetype_mapping("wasm", "application/wasm");
    server->set_file_extension_and_mimetype_mapping("js", "text/javascript");
    server->set_mount_point("/", o.web_root);
  }
  // httplib compresses with brotli at its default quality (11) when a client accepts br, as every
  // browser does: ~300 ms of CPU for the console's 145 KB script, most of the console's time to
  // first frame. gzip at zlib's default level takes a few ms for nearly the same size, so br is
  // dropped from what clients offer. (The request object is httplib's own, not const: editing
  // its headers before routing is well-defined.)
  server->set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    auto& headers = const_cast<httplib::Headers&>(req.headers);
    auto it = headers.find("Accept-Encoding");
    if (it != headers.end() && it->second.find("br") != std::string::npos) {
      it->second = it->second.find("gzip") != std::string::npos ? "gzip" : "identity";
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server->set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
  });

  int bound = port;
  if (port == 0) {
    bound = server->bind_to_any_port(host.c_str());
  } else if (!server->bind_to_port(host.c_str(), port)) {
    bound = -1;
  }
  if (bound < 0) {
    std::fprintf(stderr, "webhookd: cannot listen on %s\n", o.listen.c_str());
    return 1;
  }
  server->WidenListenBacklog();

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    server->stop();
  });

  const std::string scheme = o.tls_cert.empty() ? "http" : "https";
  const std::string shown_host = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  // One machine-readable line on stdout: scripts and tests read the port from it.
  std::printf("webhookd listening on %s://%s:%d\n", scheme.c_str(), shown_host.c_str(), bound);
  std::fflush(stdout);
  spdlog::info("serving API on {}://{}:{} (data dir {}, web root {})", scheme, shown_host, bound,
               o.data_dir, o.web_root.empty() ? "none" : o.web_root);

  // Deliveries leased by a process that died (we hold the lock, so none is alive) go out now.
  if (const int64_t reclaimed = store->ReclaimLeases(clock.NowMs()); reclaimed > 0) {
    spdlog::warn("reclaimed {} deliveries leased by a previous webhookd that did not stop cleanly",
                 reclaimed);
  }
  if (o.workers > 0) {
    engine.Start();
  } else {
    spdlog::warn(
        "--workers 0: deliveries are queued durably but not sent until webhookd runs "
        "with workers again");
  }
  // Retention: finished deliveries older than --retention-days go (with their attempts and
  // events) in batches of 1,000, each its own transaction, so ingest and delivery go on between
  // them; a sweep every minute, batches back to back while there is a backlog.
  struct Retention {
    std::mutex mu;
    std::condition_variable cv;
    bool stop = false;
    std::thread thread;
    void Stop() {
      {
        std::lock_guard lock(mu);
        stop = true;
      }
      cv.notify_all();
      if (thread.joinable()) thread.join();
    }
    ~Retention() { Stop(); }
  } retention;
  if (o.retention_days > 0) {
    retention.thread = std::thread([&] {
      SetUpThread("retention", 10);
      const int64_t keep_ms = int64_t{o.retention_days} * 24 * 3600 * 1000;
      constexpr int64_t kBatch = 1000;
      int64_t swept = 0;
      std::unique_lock lock(retention.mu);
      while (!retention.stop) {
        lock.unlock();
        int64_t deleted = 0;
        try {
          deleted = store->PruneBefore(clock.NowMs() - keep_ms, kBatch);
          swept += deleted;
          if (deleted < kBatch && swept > 0) {
            spdlog::info(
                "retention: deleted up to {} finished deliveries and events older than "
                "{} days",
                swept, o.retention_days);
            swept = 0;
          }
        } catch (const std::exception& e) {
          spdlog::error("retention sweep failed: {} (next try in a minute)", e.what());
        }
        lock.lock();
        const auto pause =
            deleted >= kBatch ? std::chrono::milliseconds(0) : std::chrono::milliseconds(60000);
        retention.cv.wait_for(lock, pause, [&] { return retention.stop; });
      }
    });
  }
  server->listen_after_bind();
  // listen_after_bind returns once stop() closed the socket; the thread pool has finished the
  // requests it had.
  if (signal_thread.joinable()) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes sigwait if we stopped otherwise
    signal_thread.join();
  }
  retention.Stop();  // a batch in progress commits first
  engine.Stop();     // sends in progress finish; leased-but-unstarted work goes back to the queue
  store.reset();     // joins the writer after its last commit
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace mambo::app
