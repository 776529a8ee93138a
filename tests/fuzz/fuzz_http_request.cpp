// libFuzzer: raw bytes as a client would send them, through webhookd's HTTP front (the request
// framer and its limits) and the real API routing, with a real SQLite store in a temporary
// folder. Seeds carry the fuzz tokens below, so authenticated routes are reached too.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "api/api_server.h"
#include "crypto/crypto.h"
#include "http/front_server.h"
#include "mambo/text.h"
#include "store/sqlite_db.h"
#include "store/sqlite_store.h"

namespace {

struct Service {
  std::string dir;
  std::unique_ptr<mambo::store::SqliteStore> store;
  std::unique_ptr<mambo::api::ApiServer> api;
  std::unique_ptr<mambo::http::FrontServer> front;

  Service() {
    // In memory (/dev/shm): the store fsyncs every commit, which on disk was most of the time.
    char tmpl[] = "/dev/shm/mambo-fuzz-http-XXXXXX";
    dir = ::mkdtemp(tmpl);
    store = std::make_unique<mambo::store::SqliteStore>(
        dir, mambo::crypto::SecretBox(std::string(32, 'k')));
    store->CreateToken("acme", mambo::store::Role::kAdmin, mambo::api::TokenHash("mwh_fuzz_admin"),
                       1);
    store->CreateToken("acme", mambo::store::Role::kIngest,
                       mambo::api::TokenHash("mwh_fuzz_ingest"), 1);
    mambo::api::ApiOptions options;
    options.token_cache_ms = 0;
    api = std::make_unique<mambo::api::ApiServer>(
        mambo::store::StoreRoles{*store, *store, *store}, [] { return int64_t{1'700'000'000'000}; },
        options, nullptr);
    mambo::http::FrontOptions front_options;
    front_options.workers = 1;
    front_options.error_body = mambo::api::ErrorJson;
    front = std::make_unique<mambo::http::FrontServer>(front_options);
    api->Register(*front);
  }
  void Reset() {
    mambo::store::Db db(dir + "/webhookd.db", /*read_only=*/false);
    db.Exec(
        "DELETE FROM attempts; DELETE FROM deliveries; DELETE FROM events; DELETE FROM webhooks; "
        "DELETE FROM audit_log;");
  }
  ~Service() {
    front.reset();
    api.reset();
    store.reset();
    std::filesystem::remove_all(dir);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Service* service = new Service();  // one for the run: opening SQLite per input is slow
  static const bool cleanup = [] {
    std::atexit([] { delete service; });
    return true;
  }();
  (void)cleanup;
  // What the inputs store piles up (webhooks, events, the audit log) made every list request
  // slower, until GET /audit alone took 43% of the time and the run fell from ~4,000 to ~400
  // inputs/s: every kInputsPerReset inputs it is deleted, the tokens kept. (A new Service each
  // time started threads inside an input, which LeakSanitizer reported as leaks.)
  constexpr int kInputsPerReset = 2000;
  static int inputs = 0;
  if (++inputs % kInputsPerReset == 0) service->Reset();
  const std::string out = service->front->HandleBytesForTest(
      std::string_view(reinterpret_cast<const char*>(data), size));
  // Whatever came in, what goes out is HTTP with a body that is valid UTF-8 (JSON or files).
  if (!out.empty() && out.rfind("HTTP/1.1 ", 0) != 0) __builtin_trap();
  return 0;
}
