// `webhookd serve`: the API, the console's static files, health endpoints and (when it lands)
// the delivery engine, in one process. SIGTERM/SIGINT stop accepting, let in-flight requests
// finish, and close the database cleanly.
#include <httplib.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "api/api_server.h"
#include "app/options.h"
#include "crypto/crypto.h"
#include "store/sqlite_store.h"

namespace mambo::app {
namespace {

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

  std::unique_ptr<store::SqliteStore> store;
  try {
    store = std::make_unique<store::SqliteStore>(o.data_dir, crypto::SecretBox(key));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webhookd: %s\n", e.what());
    return 1;
  }

  std::unique_ptr<httplib::Server> server;
  if (!o.tls_cert.empty()) {
    server = std::make_unique<httplib::SSLServer>(o.tls_cert.c_str(), o.tls_key.c_str());
    if (!server->is_valid()) {
      std::fprintf(stderr, "webhookd: cannot load --tls-cert/--tls-key\n");
      return 1;
    }
  } else {
    server = std::make_unique<httplib::Server>();
  }
  // Nagle + delayed ACK cost ~22 ms per keep-alive request otherwise (TOOLCHAIN.md).
  server->set_tcp_nodelay(true);
  const int threads = o.http_threads;
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->set_keep_alive_max_count(10000);
  server->set_read_timeout(30, 0);

  api::ApiOptions api_options;
  api_options.max_body_bytes = o.max_body_bytes;
  api::ApiServer api(*store, SystemNowMs, api_options, [] {});
  api.Register(*server);

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

  server->listen_after_bind();
  // listen_after_bind returns once stop() closed the socket; the thread pool has finished the
  // requests it had.
  if (signal_thread.joinable()) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes sigwait if we stopped otherwise
    signal_thread.join();
  }
  store.reset();  // joins the writer after its last commit
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace mambo::app
