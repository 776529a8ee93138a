#pragma once
// Options of `webhookd serve` and the token commands. Each flag also reads an environment
// variable (WEBHOOKD_<FLAG>), see main.cpp.

#include <cstdint>
#include <string>
#include <vector>

namespace mambo::app {

struct ServeOptions {
  std::string listen = "127.0.0.1:8080";
  std::string data_dir = "./data";
  std::string web_root;  // empty: no console files
  std::string tls_cert, tls_key;
  std::string database;         // PostgreSQL URI; empty: SQLite in data_dir (app/backend.h)
  std::string master_key_file;  // default <data_dir>/master.key, created on first start
  std::string log_level = "info";
  // Threads that run API handlers on complete requests; connections are read by one event loop
  // (http/front_server.h), so this bounds concurrent handlers, not clients.
  int http_threads = 64;
  size_t max_body_bytes = 256 * 1024;
  size_t max_connections = 10000;           // open client connections; the oldest idle one yields
  int64_t http_request_timeout_ms = 20000;  // a request's first byte to its last
  int64_t http_idle_timeout_ms = 60000;     // a kept-alive connection between requests
  int64_t token_cache_ms = 60000;  // how long an API token found active is trusted (see ApiOptions)
  size_t max_webhooks_per_team = 100;
  int sends_per_minute = 60;              // test events and resends per team
  std::vector<std::string> cors_origins;  // api::ApiOptions::cors_origins

  // Delivery engine.
  int workers = 32;                  // concurrent outgoing requests
  int delivery_nice = 0;             // dispatcher's and sender's nice steps below the API's
  int64_t dns_cache_ms = 30000;      // how long a resolved receiver address is reused
  int per_team_concurrency = 0;      // 0: three quarters of --workers; one team's share of them
  int per_endpoint_concurrency = 8;  // cap per webhook URL host, so one slow receiver cannot
                                     // take every worker
  int64_t connect_timeout_ms = 5000;
  int64_t request_timeout_ms = 15000;
  std::string ca_file;                // extra CAs trusted besides the system store
  std::string allow_private_targets;  // CIDR list the address guard lets through
  std::string egress_interface;
  int64_t lease_ms = 0;  // 0: 2 x request timeout + 30 s
  int64_t auto_disable_after_ms = 5LL * 24 * 3600 * 1000;
  // How often webhookd looks for operational notices to send (a webhook failing, disabled by
  // webhookd, recovered): their latency.
  int64_t notice_check_ms = 10'000;
  int retention_days = 30;     // finished deliveries, their attempts and events; 0: keep forever
  double retry_speedup = 1.0;  // >1 compresses the retry schedule (tests, demos)
};

// The data dir's main key path unless --master-key-file says otherwise.
inline std::string MainKeyPath(const std::string& data_dir, const std::string& key_file) {
  return key_file.empty() ? data_dir + "/master.key" : key_file;
}

int RunServe(const ServeOptions& options);

}  // namespace mambo::app
