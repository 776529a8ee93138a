// webhookd: the mambo EMM webhook service. Command line only; the work is in app/.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <regex>

#include "api/api_server.h"
#include "app/backend.h"
#include "app/options.h"
#include "crypto/crypto.h"
#include "mambo/text.h"
#include "mambo/validation.h"

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr; stdout carries only what scripts read (the listen line, a new token).
  spdlog::set_default_logger(spdlog::stderr_color_mt("webhookd"));
  // Everything webhookd creates (database, main key, lock and marker files) is its owner's
  // alone, whatever umask it was started with.
  ::umask(0077);

  CLI::App cli{"webhookd: mambo EMM webhook service"};
  cli.require_subcommand(1);
  mambo::app::ServeOptions serve;

  auto* serve_cmd = cli.add_subcommand("serve", "Serve the API, the console and deliveries");
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0: any)")
      ->envname("WEBHOOKD_LISTEN")
      ->capture_default_str();
  serve_cmd->add_option("--data-dir", serve.data_dir, "Folder for the database and main key")
      ->envname("WEBHOOKD_DATA_DIR")
      ->capture_default_str();
  serve_cmd
      ->add_option("--database", serve.database,
                   "PostgreSQL URI (postgresql://user@host:port/db?...) shared by several "
                   "instances; without it, SQLite in --data-dir")
      ->envname("WEBHOOKD_DATABASE");
  serve_cmd->add_option("--web-root", serve.web_root, "Console files to serve at /")
      ->envname("WEBHOOKD_WEB_ROOT");
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate: serve HTTPS")
      ->envname("WEBHOOKD_TLS_CERT");
  serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key for --tls-cert")
      ->envname("WEBHOOKD_TLS_KEY");
  serve_cmd
      ->add_option("--master-key-file", serve.master_key_file,
                   "Main key for secrets at rest (default DATA_DIR/master.key, made on "
                   "first start)")
      ->envname("WEBHOOKD_MASTER_KEY_FILE");
  serve_cmd->add_option("--log-level", serve.log_level, "trace|debug|info|warn|error")
      ->envname("WEBHOOKD_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
      ->capture_default_str();
  serve_cmd->add_option("--http-threads", serve.http_threads, "API worker threads")
      ->envname("WEBHOOKD_HTTP_THREADS")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  serve_cmd->add_option("--max-body-bytes", serve.max_body_bytes, "Largest request body accepted")
      ->envname("WEBHOOKD_MAX_BODY_BYTES")
      ->check(CLI::Range(1024, 64 * 1024 * 1024))
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-webhooks-per-team", serve.max_webhooks_per_team,
                   "Webhooks a team may have (creating one more answers 422)")
      ->envname("WEBHOOKD_MAX_WEBHOOKS_PER_TEAM")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve_cmd
      ->add_option("--sends-per-minute", serve.sends_per_minute,
                   "Test events and resends a team may ask for per minute (then 429)")
      ->envname("WEBHOOKD_SENDS_PER_MINUTE")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  serve_cmd
      ->add_option("--cors-origin", serve.cors_origins,
                   "Origins of pages that may call the API and load and frame the console's "
                   "component from another origin (the mambo console's), comma-separated; none "
                   "by default")
      ->envname("WEBHOOKD_CORS_ORIGIN")
      ->delimiter(',')
      ->check(CLI::Validator(
          [](std::string& value) {
            std::string why;
            return mambo::api::ParseOrigin(value, &why) ? std::string()
                                                        : "origin " + value + " " + why;
          },
          "ORIGIN"));
  serve_cmd
      ->add_option("--max-connections", serve.max_connections,
                   "Open client connections; at the limit the oldest idle one is closed, and a "
                   "new one is refused with 503 when none is idle")
      ->envname("WEBHOOKD_MAX_CONNECTIONS")
      ->check(CLI::Range(16, 1000000))
      ->capture_default_str();
  serve_cmd
      ->add_option("--http-request-timeout-ms", serve.http_request_timeout_ms,
                   "Time a client has from a request's first byte to its last (then 408)")
      ->envname("WEBHOOKD_HTTP_REQUEST_TIMEOUT_MS")
      ->check(CLI::Range(int64_t{100}, int64_t{600000}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--http-idle-timeout-ms", serve.http_idle_timeout_ms,
                   "How long a kept-alive client connection may wait between requests")
      ->envname("WEBHOOKD_HTTP_IDLE_TIMEOUT_MS")
      ->check(CLI::Range(int64_t{100}, int64_t{3600000}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--token-cache-ms", serve.token_cache_ms,
                   "How long an API token found active is trusted without a database lookup; a "
                   "revocation still counts from the next request (0: look up every request)")
      ->envname("WEBHOOKD_TOKEN_CACHE_MS")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--workers", serve.workers,
                   "Concurrent outgoing deliveries (0: accept and queue events, send nothing)")
      ->envname("WEBHOOKD_WORKERS")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  serve_cmd
      ->add_option("--dns-cache-ms", serve.dns_cache_ms,
                   "How long a receiver's resolved addresses are reused (0: resolve every time)")
      ->envname("WEBHOOKD_DNS_CACHE_MS")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--delivery-nice", serve.delivery_nice,
                   "CPU priority steps the dispatcher and sender threads yield to the API (0-19)")
      ->envname("WEBHOOKD_DELIVERY_NICE")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  serve_cmd
      ->add_option("--per-team-concurrency", serve.per_team_concurrency,
                   "Concurrent deliveries of one team, all its endpoints together (0: three "
                   "quarters of --workers)")
      ->envname("WEBHOOKD_PER_TEAM_CONCURRENCY")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  serve_cmd
      ->add_option("--per-endpoint-concurrency", serve.per_endpoint_concurrency,
                   "Concurrent deliveries to one endpoint")
      ->envname("WEBHOOKD_PER_ENDPOINT_CONCURRENCY")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  serve_cmd->add_option("--connect-timeout-ms", serve.connect_timeout_ms, "Connect timeout")
      ->envname("WEBHOOKD_CONNECT_TIMEOUT_MS")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  serve_cmd->add_option("--request-timeout-ms", serve.request_timeout_ms, "Whole-request timeout")
      ->envname("WEBHOOKD_REQUEST_TIMEOUT_MS")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  serve_cmd->add_option("--ca-file", serve.ca_file, "Extra CA certificates (PEM) to trust")
      ->envname("WEBHOOKD_CA_FILE")
      ->check(CLI::ExistingFile);
  serve_cmd
      ->add_option("--allow-private-targets", serve.allow_private_targets,
                   "CIDR[,CIDR] the address guard lets through (e.g. 127.0.0.1/32)")
      ->envname("WEBHOOKD_ALLOW_PRIVATE_TARGETS");
  serve_cmd
      ->add_option("--egress-interface", serve.egress_interface,
                   "Network interface for outgoing deliveries")
      ->envname("WEBHOOKD_EGRESS_INTERFACE");
  serve_cmd
      ->add_option("--auto-disable-after-ms", serve.auto_disable_after_ms,
                   "Disable a webhook failing without success for this long")
      ->envname("WEBHOOKD_AUTO_DISABLE_AFTER_MS")
      ->capture_default_str();
  serve_cmd
      ->add_option("--notice-check-ms", serve.notice_check_ms,
                   "How often to look for operational notices to send (webhook.failing, "
                   "webhook.disabled, webhook.recovered)")
      ->envname("WEBHOOKD_NOTICE_CHECK_MS")
      ->check(CLI::Range(int64_t{100}, int64_t{3600000}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--retention-days", serve.retention_days,
                   "Delete finished deliveries, their attempts and events after this many days "
                   "(0: keep forever)")
      ->envname("WEBHOOKD_RETENTION_DAYS")
      ->check(CLI::Range(0, 36500))
      ->capture_default_str();
  serve_cmd
      ->add_option("--lease-ms", serve.lease_ms,
                   "How long a leased delivery belongs to this process (0: 2 x "
                   "--request-timeout-ms + 30 s)")
      ->envname("WEBHOOKD_LEASE_MS")
      ->check(CLI::Range(int64_t{0}, int64_t{86400000}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--retry-speedup", serve.retry_speedup,
                   "Divide the retry schedule by this factor (tests and demos only)")
      ->envname("WEBHOOKD_RETRY_SPEEDUP")
      ->check(CLI::Range(1.0, 1e9))
      ->capture_default_str();

  auto* token_cmd = cli.add_subcommand("token", "Manage API tokens");
  token_cmd->require_subcommand(1);
  std::string data_dir = "./data", database, key_file, team, role, token_id, description;
  auto add_store_flags = [&](CLI::App* c) {
    c->add_option("--data-dir", data_dir, "Folder of the database")
        ->envname("WEBHOOKD_DATA_DIR")
        ->capture_default_str();
    c->add_option("--database", database, "PostgreSQL URI (instead of --data-dir)")
        ->envname("WEBHOOKD_DATABASE");
    c->add_option("--master-key-file", key_file, "Main key file")
        ->envname("WEBHOOKD_MASTER_KEY_FILE");
  };
  auto* create_cmd = token_cmd->add_subcommand("create", "Create a token; prints it alone");
  create_cmd->add_option("--team", team, "Team id (created when new)")
      ->required()
      ->check([](const std::string& v) -> std::string {
        static const std::regex re("[A-Za-z0-9_-]{1,64}");
        return std::regex_match(v, re) ? "" : "team must be 1-64 letters, digits, '_' or '-'";
      });
  create_cmd->add_option("--role", role, "admin, viewer or ingest")
      ->required()
      ->check(CLI::IsMember({"admin", "viewer", "ingest"}));
  create_cmd->add_option("--description", description, "What the token is for (listed)")
      ->check([](const std::string& v) { return mambo::DescriptionError(v).value_or(""); });
  add_store_flags(create_cmd);
  auto* list_cmd = token_cmd->add_subcommand("list", "List tokens (never their values)");
  list_cmd->add_option("--team", team, "Only this team");
  add_store_flags(list_cmd);
  auto* revoke_cmd = token_cmd->add_subcommand("revoke", "Revoke a token by id");
  revoke_cmd->add_option("id", token_id, "Token id (tok_...)")->required();
  add_store_flags(revoke_cmd);

  // Opening a store migrates it (under an advisory lock on PostgreSQL); this does only that, for
  // operators who migrate before rolling out new instances.
  auto* migrate_cmd =
      cli.add_subcommand("migrate", "Create or upgrade the database schema, then exit");
  add_store_flags(migrate_cmd);

  CLI11_PARSE(cli, argc, argv);

  try {
    if (serve_cmd->parsed()) {
      spdlog::set_level(spdlog::level::from_str(serve.log_level));
      return mambo::app::RunServe(serve);
    }
    std::string error;
    auto backend = mambo::app::OpenBackend({data_dir, database, key_file, "cli", false}, &error);
    if (!backend) {
      std::fprintf(stderr, "webhookd: %s\n", error.c_str());
      return 1;
    }
    mambo::store::ConfigStore* store = &backend->roles().config;
    if (migrate_cmd->parsed()) {
      std::printf("%s: schema up to date\n", backend->Describe().c_str());
      return 0;
    }
    if (create_cmd->parsed()) {
      const std::string token = mambo::api::NewToken();
      store->CreateToken(team, *mambo::store::ParseRole(role), mambo::api::TokenHash(token),
                         NowMs(),
                         mambo::store::TokenDetails{description, std::nullopt, std::nullopt});
      std::printf("%s\n", token.c_str());
      return 0;
    }
    if (list_cmd->parsed()) {
      std::printf("%-32s %-20s %-7s %-25s %-25s %s\n", "ID", "TEAM", "ROLE", "CREATED", "REVOKED",
                  "DESCRIPTION");
      for (const auto& t :
           store->ListTokens(team.empty() ? std::nullopt : std::optional<std::string>(team))) {
        std::printf("%-32s %-20s %-7s %-25s %-25s %s\n", t.id.c_str(), t.team_id.c_str(),
                    std::string(ToString(t.role)).c_str(),
                    mambo::FormatTimestamp(t.created_at).c_str(),
                    t.revoked_at ? mambo::FormatTimestamp(*t.revoked_at).c_str() : "-",
                    mambo::ToValidUtf8(t.description).c_str());
      }
      return 0;
    }
    if (revoke_cmd->parsed()) {
      if (!store->RevokeToken(token_id, NowMs())) {
        std::fprintf(stderr, "webhookd: no active token with id %s\n", token_id.c_str());
        return 1;
      }
      std::printf("revoked %s\n", token_id.c_str());
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "webhookd: %s\n", e.what());
    return 1;
  }
  return 0;
}
