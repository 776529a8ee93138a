// `webhookd serve`: the API, the console's static files, health endpoints, the delivery engine
// and the periodic jobs, in one process, over the store OpenBackend gives (SQLite or
// PostgreSQL). RunServe reads as the service's shape: check the options, open the store, build
// the HTTP server and the API, the engine, the jobs, then serve until SIGTERM/SIGINT, which stop
// accepting, let in-flight requests and sends finish, and close the store cleanly.
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
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
#include "app/backend.h"
#include "app/options.h"
#include "app/periodic_jobs.h"
#include "crypto/crypto.h"
#include "delivery/address_guard.h"
#include "delivery/auto_disable.h"
#include "delivery/engine.h"
#include "delivery/http_sender.h"
#include "delivery/notices.h"
#include "delivery/retry_policy.h"
#include "http/front_server.h"
#include "mambo/event_schemas.h"
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

// Checks what can be checked before anything starts; the exit code when they fail.
std::optional<int> CheckOptions(const ServeOptions& o, std::string& host, int& port) {
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
  if (const delivery::CidrList allow = delivery::ParseCidrList(o.allow_private_targets);
      allow.error) {
    std::fprintf(stderr, "webhookd: --allow-private-targets: %s\n", allow.error->c_str());
    return 2;
  }
  return std::nullopt;
}

// This process's name in the leases it takes: host, pid and a random part (a restarted process
// with the same pid is another owner).
std::string InstanceName() {
  char host[256] = "host";
  ::gethostname(host, sizeof host - 1);
  return std::string(host) + "/" + std::to_string(::getpid()) + "/" +
         crypto::Hex(crypto::RandomBytes(3));
}

// The HTTP server: webhookd's front (http/front_server.h) with the options' limits, plain or
// HTTPS; null with a message on stderr when the certificate does not load.
api::ApiOptions ApiOptionsOf(const ServeOptions& o);

std::unique_ptr<http::FrontServer> MakeHttpServer(const ServeOptions& o) {
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
  front.answer_headers = api::SecurityHeaders(ApiOptionsOf(o).cors_origins);
  front.answer_headers.emplace("Cache-Control", "no-store");
  front.error_body = api::ErrorJson;
  if (!o.tls_cert.empty()) {
    std::string error;
    front.tls = http::LoadServerTls(o.tls_cert, o.tls_key, &error);
    if (!front.tls) {
      std::fprintf(stderr, "webhookd: --tls-cert/--tls-key: %s\n", error.c_str());
      return nullptr;
    }
  }
  auto server = std::make_unique<http::FrontServer>(std::move(front));
  // Nagle + delayed ACK cost ~22 ms per keep-alive request otherwise (measured here with
  // httplib's client: 45 req/s on one keep-alive connection without it, 8,700 with it).
  server->set_tcp_nodelay(true);
  server->set_keep_alive_max_count(10000);
  server->set_keep_alive_timeout(o.http_idle_timeout_ms / 1000);
  return server;
}

// The delivery path's parts: guard -> sender, and the retry policy, all on one clock.
struct DeliveryParts {
  delivery::CachingResolverFns resolver{delivery::Resolve, nullptr};
  std::unique_ptr<delivery::AddressGuard> guard;
  std::unique_ptr<delivery::HttpSender> sender;
  std::unique_ptr<delivery::RetryPolicy> policy;
};

std::optional<DeliveryParts> MakeDeliveryParts(const ServeOptions& o,
                                               const delivery::Clock& clock) {
  DeliveryParts parts;
  if (o.dns_cache_ms > 0) {
    parts.resolver = delivery::CachingResolver(delivery::Resolve, clock, o.dns_cache_ms);
  }
  parts.guard = std::make_unique<delivery::AddressGuard>(
      delivery::ParseCidrList(o.allow_private_targets).cidrs, parts.resolver.resolve,
      parts.resolver.cached);
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
  try {
    parts.sender = std::make_unique<delivery::HttpSender>(sender_options, *parts.guard, clock);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webhookd: %s\n", e.what());
    return std::nullopt;
  }
  std::vector<int64_t> schedule = delivery::DefaultRetryScheduleMs();
  for (auto& delay : schedule)
    delay = static_cast<int64_t>(static_cast<double>(delay) / o.retry_speedup);
  // Jitter only: no security depends on it, so a seeded engine behind a mutex is enough.
  auto rng = std::make_shared<std::pair<std::mutex, std::mt19937_64>>();
  rng->second.seed(std::random_device{}());
  parts.policy = std::make_unique<delivery::RetryPolicy>(
      [rng] {
        std::lock_guard lock(rng->first);
        return std::uniform_real_distribution<double>(0.0, 1.0)(rng->second);
      },
      schedule);
  return parts;
}

delivery::EngineOptions EngineOptionsOf(const ServeOptions& o) {
  delivery::EngineOptions e;
  e.workers = o.workers;
  e.nice = o.delivery_nice;
  e.per_endpoint_concurrency = o.per_endpoint_concurrency;
  e.per_team_concurrency = o.per_team_concurrency;
  e.lease_ms = o.lease_ms > 0 ? o.lease_ms : 2 * o.request_timeout_ms + 30000;
  e.version = MAMBO_VERSION;
  return e;
}

api::ApiOptions ApiOptionsOf(const ServeOptions& o) {
  api::ApiOptions a;
  a.max_body_bytes = o.max_body_bytes;
  a.token_cache_ms = o.token_cache_ms;
  a.max_webhooks_per_team = o.max_webhooks_per_team;
  a.sends_per_minute = o.sends_per_minute;
  for (const std::string& origin : o.cors_origins) {
    if (auto parsed = api::ParseOrigin(origin, nullptr)) a.cors_origins.push_back(*parsed);
  }
  a.version = MAMBO_VERSION;
  return a;
}

// /metrics, /healthz, /readyz, the console's files, and what every request goes through.
void RegisterOperations(const ServeOptions& o, http::FrontServer& server, Backend& backend,
                        delivery::DeliveryEngine& engine) {
  server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(engine.PrometheusText() + backend.MetricsText() + HttpFrontMetrics(server),
                    "text/plain; version=0.0.4");
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  server.Get("/readyz", [&](const httplib::Request&, httplib::Response& res) {
    const bool ok = backend.Healthy();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "{\"status\":\"ready\"}" : "{\"status\":\"database unavailable\"}",
                    "application/json");
  });
  if (!o.web_root.empty()) {
    server.set_file_extension_and_mimetype_mapping("wasm", "application/wasm");
    server.set_file_extension_and_mimetype_mapping("js", "text/javascript");
    server.set_mount_point("/", o.web_root);
  }
  // httplib compresses with brotli at its default quality (11) when a client accepts br, as every
  // browser does: ~300 ms of CPU for the console's 145 KB script, most of the console's time to
  // first frame. gzip at zlib's default level takes a few ms for nearly the same size, so br is
  // dropped from what clients offer. (The request object is httplib's own, not const: editing
  // its headers before routing is well-defined.)
  server.set_pre_routing_handler([](const httplib::Request& req, httplib::Response&) {
    auto& headers = const_cast<httplib::Headers&>(req.headers);
    auto it = headers.find("Accept-Encoding");
    if (it != headers.end() && it->second.find("br") != std::string::npos) {
      it->second = it->second.find("gzip") != std::string::npos ? "gzip" : "identity";
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
  });
}

// Retention (finished deliveries older than --retention-days go, with their attempts and
// events, in batches of 1,000, each its own transaction, so ingest and delivery go on between
// them), auto-disable, and expired leases back to the queue.
void AddJobs(const ServeOptions& o, PeriodicJobs& jobs, store::StoreRoles stores,
             const delivery::Clock& clock, delivery::AutoDisable& auto_disable,
             delivery::Notices& notices) {
  if (o.retention_days > 0) {
    jobs.Add("retention", std::chrono::minutes(1), [&o, stores, &clock] {
      constexpr int64_t kBatch = 1000;
      const int64_t keep_ms = int64_t{o.retention_days} * 24 * 3600 * 1000;
      const int64_t deleted = stores.history.PruneBefore(clock.NowMs() - keep_ms, kBatch);
      if (deleted > 0) {
        spdlog::info(
            "retention: deleted up to {} finished deliveries and events older than {} days",
            deleted, o.retention_days);
      }
      return deleted >= kBatch;
    });
  }
  // Statistics are kept for the longest window (7 days) whatever --retention-days says.
  jobs.Add("stats-prune", std::chrono::hours(1), [stores, &clock] {
    stores.history.PruneStats(clock.NowMs() - store::kStatsKeepMs);
    return false;
  });
  jobs.Add("auto-disable", std::chrono::minutes(1), [&auto_disable] {
    auto_disable.Check();
    return false;
  });
  // Operational notices: a webhook failing, disabled (by auto-disable or a 410), recovered.
  jobs.Add("notices", std::chrono::milliseconds(o.notice_check_ms), [&notices] {
    notices.Check();
    return false;
  });
  // A crashed instance's leases expire; any live one puts them back in the queue (LeaseDue
  // takes expired leases too: this keeps the queue's figures true meanwhile).
  jobs.Add("lease-reclaim", std::chrono::seconds(10), [stores, &clock] {
    if (const int64_t n = stores.queue.ReclaimExpiredLeases(clock.NowMs()); n > 0) {
      spdlog::warn("{} deliveries whose lease expired are back in the queue", n);
    }
    return false;
  });
}

}  // namespace

int RunServe(const ServeOptions& o) {
  std::string host;
  int port = 0;
  if (auto rc = CheckOptions(o, host, port)) return *rc;
  // The event schemas are compiled in; a build whose schema files are broken must not accept
  // events it cannot check (the shared tests fail on such a build first).
  if (const auto problems = EventSchemaProblems(); !problems.empty()) {
    for (const std::string& p : problems) std::fprintf(stderr, "webhookd: %s\n", p.c_str());
    return 1;
  }

  // Block the stop signals in every thread; one thread waits for them (no async-signal games).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::string error;
  std::unique_ptr<Backend> backend =
      OpenBackend({o.data_dir, o.database, o.master_key_file, InstanceName(), true}, &error);
  if (!backend) {
    std::fprintf(stderr, "webhookd: %s\n", error.c_str());
    return 1;
  }
  const store::StoreRoles stores = backend->roles();

  std::unique_ptr<http::FrontServer> server = MakeHttpServer(o);
  if (!server) return 1;
  delivery::SystemClock clock;
  std::optional<DeliveryParts> parts = MakeDeliveryParts(o, clock);
  if (!parts) return 2;
  delivery::DeliveryEngine engine(stores.queue, *parts->sender, *parts->policy, clock,
                                  EngineOptionsOf(o));
  api::ApiServer api(
      stores, [&clock] { return clock.NowMs(); }, ApiOptionsOf(o), [&engine] { engine.Wake(); });
  api.Register(*server);
  RegisterOperations(o, *server, *backend, engine);
  delivery::AutoDisable auto_disable(stores.history, stores.config, clock, o.auto_disable_after_ms);
  delivery::Notices notices(stores, clock, o.auto_disable_after_ms, [&engine] { engine.Wake(); });
  api.SetOnSwitchedOff([&notices](const Webhook& w, const std::string& actor, int64_t at) {
    notices.SendDisabledByPerson(w, actor, at);
  });
  PeriodicJobs jobs(backend->locks());
  AddJobs(o, jobs, stores, clock, auto_disable, notices);

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
  spdlog::info("serving API on {}://{}:{} (store: {}, web root {})", scheme, shown_host, bound,
               backend->Describe(), o.web_root.empty() ? "none" : o.web_root);

  if (const int64_t reclaimed = backend->ReclaimAtStart(clock.NowMs()); reclaimed > 0) {
    spdlog::warn("reclaimed {} deliveries leased by a webhookd that did not stop cleanly",
                 reclaimed);
  }
  // From here every return path goes through backend.reset() below while the engine exists.
  backend->Follow([&engine] { engine.Wake(); });
  if (o.workers > 0) {
    engine.Start();
  } else {
    spdlog::warn(
        "--workers 0: deliveries are queued durably but not sent until webhookd runs "
        "with workers again");
  }
  jobs.Start();
  server->listen_after_bind();
  // listen_after_bind returns once stop() closed the socket; the workers have finished the
  // requests they had.
  if (signal_thread.joinable()) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes sigwait if we stopped otherwise
    signal_thread.join();
  }
  jobs.Stop();      // a job in progress finishes first
  engine.Stop();    // sends in progress finish; leased-but-unstarted work goes back to the queue
  backend.reset();  // the store closes after its last commit
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace mambo::app
