// Service tests: every API route's success and error paths against a real webhookd process with
// a real SQLite data dir.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include "service/webhookd_process.h"
#include "support/event_bodies.h"
#include "support/wait_until.h"

namespace mambo::testing {
namespace {

const std::string kCreateBody =
    R"({"url":"https://hooks.example.com/mambo","events":["device.enroll","policy.update"],
        "secret":"generate","description":"Inventory sync"})";

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_ = CreateToken(dir_.path(), "acme", "admin");
    ingest_ = CreateToken(dir_.path(), "acme", "ingest");
    other_admin_ = CreateToken(dir_.path(), "globex", "admin");
    server_ = std::make_unique<WebhookdProcess>(dir_.path());
    ASSERT_TRUE(server_->started());
  }

  Json CreateWebhook(const std::string& body = kCreateBody, const std::string& token = "") {
    auto r = server_->Call("POST", "/api/v1/webhooks", token.empty() ? admin_ : token, body);
    EXPECT_EQ(r.status, 201) << r.raw;
    return r.body;
  }

  void ExpectError(const WebhookdProcess::Reply& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.raw;
    ASSERT_TRUE(r.body.is_object()) << r.raw;
    ASSERT_TRUE(r.body.contains("error")) << r.raw;
    EXPECT_EQ(r.body["error"]["code"], code) << r.raw;
    EXPECT_TRUE(r.body["error"]["message"].is_string());
    EXPECT_TRUE(r.body["error"]["fields"].is_array());
  }

  static std::set<std::string> FieldNames(const WebhookdProcess::Reply& r) {
    std::set<std::string> names;
    for (const auto& f : r.body["error"]["fields"]) names.insert(f["field"].get<std::string>());
    return names;
  }

  TempDir dir_;
  std::string admin_, ingest_, other_admin_;
  std::unique_ptr<WebhookdProcess> server_;
};

TEST_F(ApiTest, MissingUnknownAndWrongRoleTokensAreRefused) {
  ExpectError(server_->Call("GET", "/api/v1/webhooks", ""), 401, "unauthorized");
  ExpectError(server_->Call("GET", "/api/v1/webhooks", "mwh_not-a-real-token"), 401,
              "unauthorized");
  ExpectError(server_->Call("GET", "/api/v1/webhooks", ingest_), 403, "forbidden");
  ExpectError(server_->Call("POST", "/api/v1/webhooks", ingest_, kCreateBody), 403, "forbidden");
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", admin_).status, 200);
}

// A viewer reads everything an admin reads, except secrets and header values, and changes
// nothing: 200 on every read, 403 on every write, reveal and ingest.
TEST_F(ApiTest, AViewerReadsEverythingButChangesNothing) {
  const Json w = CreateWebhook();
  const std::string id = w["id"];
  auto ingested = server_->Call("POST", "/api/v1/events", ingest_, EventBody("device.enroll"));
  ASSERT_EQ(ingested.status, 202) << ingested.raw;
  const std::string delivery = ingested.body["deliveries"][0];
  const std::string event = ingested.body["id"];
  auto made = server_->Call("POST", "/api/v1/tokens", admin_,
                            R"({"role":"viewer","description":"Support desk"})");
  ASSERT_EQ(made.status, 201) << made.raw;
  const std::string viewer = made.body["token"];
  EXPECT_EQ(made.body["role"], "viewer");
  for (const std::string& path :
       {std::string("/api/v1/webhooks"), "/api/v1/webhooks/" + id,
        "/api/v1/webhooks/" + id + "/deliveries", "/api/v1/deliveries/" + delivery,
        std::string("/api/v1/events"), "/api/v1/events/" + event, std::string("/api/v1/audit"),
        std::string("/api/v1/tokens"), std::string("/api/v1/tokens/current"),
        std::string("/api/v1/event-types"), std::string("/api/v1/event-types/device.enroll")}) {
    EXPECT_EQ(server_->Call("GET", path, viewer).status, 200) << path;
  }
  EXPECT_EQ(server_->Call("GET", "/api/v1/tokens/current", viewer).body["role"], "viewer");
  const std::vector<std::tuple<std::string, std::string, std::string>> refused = {
      {"POST", "/api/v1/webhooks", kCreateBody},
      {"PATCH", "/api/v1/webhooks/" + id, R"({"description":"x"})"},
      {"DELETE", "/api/v1/webhooks/" + id, ""},
      {"GET", "/api/v1/webhooks/" + id + "/secret", ""},
      {"GET", "/api/v1/webhooks/" + id + "/headers", ""},
      {"POST", "/api/v1/webhooks/" + id + "/secret/rotate", ""},
      {"POST", "/api/v1/webhooks/" + id + "/recover", R"({"since":"2026-01-01T00:00:00Z"})"},
      {"POST", "/api/v1/webhooks/" + id + "/test", ""},
      {"POST", "/api/v1/webhooks/" + id + "/cancel-pending", ""},
      {"POST", "/api/v1/deliveries/" + delivery + "/resend", ""},
      {"POST", "/api/v1/deliveries/" + delivery + "/cancel", ""},
      {"POST", "/api/v1/events", EventBody("device.enroll")},
      {"POST", "/api/v1/tokens", R"({"role":"admin"})"},
      {"DELETE", "/api/v1/tokens/" + made.body["id"].get<std::string>(), ""},
  };
  for (const auto& [method, path, body] : refused) {
    auto r = server_->Call(method, path, viewer, body);
    ExpectError(r, 403, "forbidden");
    EXPECT_NE(r.raw.find("role viewer"), std::string::npos) << method << " " << path << r.raw;
  }
  // Nothing changed: the webhook is as it was, and no test event or token was made.
  auto after = server_->Call("GET", "/api/v1/webhooks/" + id, admin_);
  EXPECT_EQ(after.body["description"], w["description"]);
  EXPECT_EQ(server_->Call("GET", "/api/v1/tokens", admin_).body["data"].size(), 3u);
}

// Tokens made through the API work at once and stop at once when revoked or expired; their
// value is in the creation's answer only.
TEST_F(ApiTest, TokensMadeThroughTheApiWorkAtOnceAndStopAtOnce) {
  auto bad = server_->Call("POST", "/api/v1/tokens", admin_,
                           R"({"role":"owner","expires_at":"2020-01-01T00:00:00Z","x":1})");
  ExpectError(bad, 422, "validation_failed");
  EXPECT_EQ(FieldNames(bad), (std::set<std::string>{"role", "expires_at", "x"}));
  ExpectError(server_->Call("POST", "/api/v1/tokens", admin_, R"({"description":"no role"})"), 422,
              "validation_failed");
  auto made = server_->Call("POST", "/api/v1/tokens", admin_,
                            R"({"role":"admin","description":"CI pipeline"})");
  ASSERT_EQ(made.status, 201) << made.raw;
  const std::string token = made.body["token"], token_id = made.body["id"];
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", token).status, 200) << "works at once";
  auto listed = server_->Call("GET", "/api/v1/tokens", admin_);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.raw.find(token), std::string::npos) << "the value is never listed";
  bool seen = false;
  for (const Json& t : listed.body["data"]) {
    if (t["id"] != token_id) continue;
    seen = true;
    EXPECT_EQ(t["description"], "CI pipeline");
    EXPECT_TRUE(t["last_used_at"].is_string()) << "used once already";
    EXPECT_EQ(t["current"], false);
  }
  EXPECT_TRUE(seen) << listed.raw;
  auto audit = server_->Call("GET", "/api/v1/audit", admin_);
  EXPECT_EQ(audit.raw.find(token), std::string::npos);
  EXPECT_EQ(audit.body["data"][0]["action"], "token.create");
  EXPECT_EQ(audit.body["data"][0]["target_id"], token_id);

  // Revoking the token one uses needs a confirmation; another admin token revokes it at once.
  ExpectError(server_->Call("DELETE", "/api/v1/tokens/" + token_id, token), 409,
              "confirmation_required");
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", token).status, 200);
  EXPECT_EQ(server_->Call("DELETE", "/api/v1/tokens/" + token_id, admin_).status, 204);
  ExpectError(server_->Call("GET", "/api/v1/webhooks", token), 401, "unauthorized");
  ExpectError(server_->Call("DELETE", "/api/v1/tokens/" + token_id, admin_), 404, "not_found");
  // Another team's token is not found.
  const std::string theirs =
      server_->Call("GET", "/api/v1/tokens/current", other_admin_).body["id"];
  ExpectError(server_->Call("DELETE", "/api/v1/tokens/" + theirs, admin_), 404, "not_found");

  // An expired token is refused, saying so (the wait polls the API; no sleep decides).
  const std::string soon = FormatTimestamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count() +
                                           1500);
  auto brief = server_->Call("POST", "/api/v1/tokens", admin_,
                             R"({"role":"viewer","expires_at":")" + soon + R"("})");
  ASSERT_EQ(brief.status, 201) << brief.raw;
  const std::string brief_token = brief.body["token"];
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", brief_token).status, 200);
  ASSERT_TRUE(
      WaitUntil([&] { return server_->Call("GET", "/api/v1/webhooks", brief_token).status == 401; },
                std::chrono::seconds(10)));
  EXPECT_NE(server_->Call("GET", "/api/v1/webhooks", brief_token).raw.find("expired"),
            std::string::npos);
}

// A team keeps an admin: its last admin token cannot be revoked through the API, even when
// confirmed (the CLI, for an operator with the server's keys, still can).
TEST_F(ApiTest, TheLastAdminTokenCannotBeRevoked) {
  const std::string self = server_->Call("GET", "/api/v1/tokens/current", admin_).body["id"];
  ExpectError(server_->Call("DELETE", "/api/v1/tokens/" + self + "?confirm=true", admin_), 409,
              "last_admin");
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", admin_).status, 200);
  auto second = server_->Call("POST", "/api/v1/tokens", admin_, R"({"role":"admin"})");
  ASSERT_EQ(second.status, 201);
  EXPECT_EQ(server_->Call("DELETE", "/api/v1/tokens/" + self + "?confirm=true", admin_).status,
            204);
  ExpectError(server_->Call("GET", "/api/v1/webhooks", admin_), 401, "unauthorized");
  const std::string next = second.body["token"];
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", next).status, 200);
}

TEST_F(ApiTest, RevokedTokenStopsWorking) {
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", admin_).status, 200);
  auto list = RunWebhookd({"token", "list", "--team", "acme", "--data-dir", dir_.path()});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out.find("mwh_"), std::string::npos) << "token list must not print tokens";
  // The admin token was created first: it is the first tok_ line of the team.
  const size_t at = list.out.find("tok_");
  ASSERT_NE(at, std::string::npos);
  const std::string id = list.out.substr(at, list.out.find(' ', at) - at);
  auto revoke = RunWebhookd({"token", "revoke", id, "--data-dir", dir_.path()});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  ExpectError(server_->Call("GET", "/api/v1/webhooks", admin_), 401, "unauthorized");
  auto again = RunWebhookd({"token", "revoke", id, "--data-dir", dir_.path()});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.err.find("no active token"), std::string::npos) << again.err;
}

TEST_F(ApiTest, TokenCliRejectsBadInputWithAClearMessage) {
  auto r = RunWebhookd(
      {"token", "create", "--team", "bad team!", "--role", "admin", "--data-dir", dir_.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("team must be"), std::string::npos) << r.err;
  r = RunWebhookd(
      {"token", "create", "--team", "acme", "--role", "root", "--data-dir", dir_.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("role"), std::string::npos) << r.err;
}

TEST_F(ApiTest, EventTypesListTheCatalog) {
  auto r = server_->Call("GET", "/api/v1/event-types", ingest_);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body["data"].size(), 25u);
  EXPECT_EQ(r.body["data"][0]["id"], "team.update");
  EXPECT_EQ(r.body["data"][0]["category"], "Team Management");
  EXPECT_FALSE(r.body["data"][0]["purpose"].get<std::string>().empty());
  EXPECT_EQ(r.body["data"][0]["schema_version"], 1);
}

TEST_F(ApiTest, AnEventTypeComesWithItsSchemaAndAnExample) {
  auto r = server_->Call("GET", "/api/v1/event-types/device.enroll", ingest_);
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["id"], "device.enroll");
  EXPECT_EQ(r.body["schema_version"], 1);
  EXPECT_EQ(r.body["schema"]["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(r.body["schema"]["$id"], "urn:mambo:webhooks:event:device.enroll:v1");
  // Self-contained: the common definitions its $refs name are in it.
  EXPECT_TRUE(r.body["schema"]["$defs"].contains("actor"));
  EXPECT_TRUE(r.body["schema"]["required"].is_array());
  // The example is what ingest accepts.
  const Json example = r.body["example"];
  EXPECT_TRUE(example["device"].contains("serial_number"));
  auto ingest = server_->Call("POST", "/api/v1/events", ingest_,
                              Json{{"type", "device.enroll"}, {"data", example}}.dump());
  EXPECT_EQ(ingest.status, 202) << ingest.raw;
  ExpectError(server_->Call("GET", "/api/v1/event-types/device.explode", ingest_), 404,
              "not_found");
  ExpectError(server_->Call("GET", "/api/v1/event-types/webhook.test", ingest_), 404, "not_found");
  EXPECT_EQ(server_->Call("GET", "/api/v1/event-types/device.enroll", "").status, 401);
}

TEST_F(ApiTest, CreateReturnsTheSecretOnceAndNeverAgain) {
  Json created = CreateWebhook();
  const std::string id = created["id"];
  const std::string secret = created["secret"];
  EXPECT_EQ(secret.rfind("whsec_", 0), 0u);
  EXPECT_EQ(created["has_secret"], true);
  EXPECT_EQ(created["active"], true);
  EXPECT_EQ(created["description"], "Inventory sync");

  auto get = server_->Call("GET", "/api/v1/webhooks/" + id, admin_);
  ASSERT_EQ(get.status, 200);
  EXPECT_FALSE(get.body.contains("secret"));
  EXPECT_EQ(get.body["has_secret"], true);
  EXPECT_EQ(get.raw.find(secret), std::string::npos);
  auto list = server_->Call("GET", "/api/v1/webhooks", admin_);
  EXPECT_EQ(list.raw.find(secret), std::string::npos);
  auto audit = server_->Call("GET", "/api/v1/audit", admin_);
  ASSERT_EQ(audit.status, 200);
  EXPECT_EQ(audit.raw.find(secret), std::string::npos);
  EXPECT_EQ(audit.raw.find(secret.substr(6)), std::string::npos);

  auto reveal = server_->Call("GET", "/api/v1/webhooks/" + id + "/secret", admin_);
  ASSERT_EQ(reveal.status, 200);
  EXPECT_EQ(reveal.body["secret"], secret);
  audit = server_->Call("GET", "/api/v1/audit", admin_);
  EXPECT_EQ(audit.body["data"][0]["action"], "webhook.secret_reveal");
  EXPECT_EQ(audit.raw.find(secret), std::string::npos);

  // Not on disk in clear either: the database holds it sealed with AES-256-GCM.
  std::ifstream db(dir_.path() + "/webhookd.db", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(db)), std::istreambuf_iterator<char>());
  std::ifstream wal(dir_.path() + "/webhookd.db-wal", std::ios::binary);
  bytes.append((std::istreambuf_iterator<char>(wal)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find(secret.substr(6)), std::string::npos);

  EXPECT_EQ(server_->Stop(), 0);
  EXPECT_EQ(server_->Log().find(secret.substr(6)), std::string::npos);
}

// Custom headers: values never leave in a response, the audit log, the service log or the
// database file, except through the audited reveal; PATCH merges, null removes, the set's bounds
// hold against what is already there.
TEST_F(ApiTest, CustomHeaderValuesAreMaskedEverywhereButTheAuditedReveal) {
  const std::string value = "Bearer gw-credential-7f3a9c";
  Json created = CreateWebhook(Json{{"url", "https://hooks.example.com/h"},
                                    {"events", {"device.enroll"}},
                                    {"headers", {{"Authorization", value}, {"X-Env", "prod"}}}}
                                   .dump());
  const std::string id = created["id"];
  EXPECT_EQ(created["headers"], (Json{{"Authorization", "********"}, {"X-Env", "********"}}));
  EXPECT_EQ(created.dump().find("gw-credential"), std::string::npos);
  for (const std::string path : {"/api/v1/webhooks/" + id, std::string("/api/v1/webhooks")}) {
    auto r = server_->Call("GET", path, admin_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.raw.find("gw-credential"), std::string::npos) << path;
    EXPECT_NE(r.raw.find("Authorization"), std::string::npos) << path;
  }

  // Ingest may not reveal; an admin may, and that is audited.
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks/" + id + "/headers", ingest_).status, 403);
  auto reveal = server_->Call("GET", "/api/v1/webhooks/" + id + "/headers", admin_);
  ASSERT_EQ(reveal.status, 200) << reveal.raw;
  EXPECT_EQ(reveal.body["headers"], (Json{{"Authorization", value}, {"X-Env", "prod"}}));
  auto audit = server_->Call("GET", "/api/v1/audit", admin_);
  EXPECT_EQ(audit.body["data"][0]["action"], "webhook.headers_reveal");

  // PATCH merges: a value replaces (names ignore case), null removes, others stay.
  auto r = server_->Call("PATCH", "/api/v1/webhooks/" + id, admin_,
                         R"({"headers":{"authorization":"Bearer rotated-credential","X-Env":null,)"
                         R"("X-Region":"eu"}})");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["headers"], (Json{{"authorization", "********"}, {"X-Region", "********"}}));
  audit = server_->Call("GET", "/api/v1/audit", admin_);
  const Json& update = audit.body["data"][0];
  EXPECT_EQ(update["action"], "webhook.update");
  EXPECT_EQ(update["after"]["headers_changed"],
            Json::array({"X-Env", "X-Region", "authorization"}));
  EXPECT_EQ(audit.raw.find("credential"), std::string::npos);

  // Refusals name the header; the bounds count what is already stored.
  r = server_->Call("PATCH", "/api/v1/webhooks/" + id, admin_,
                    R"({"headers":{"Webhook-Id":"x","X-Bad":"a\r\nb"}})");
  ExpectError(r, 422, "validation_failed");
  EXPECT_EQ(FieldNames(r), (std::set<std::string>{"headers/Webhook-Id", "headers/X-Bad"}));
  Json many = Json::object();
  for (int i = 0; i < 19; ++i) many["X-H" + std::to_string(i)] = "v";
  r = server_->Call("PATCH", "/api/v1/webhooks/" + id, admin_, Json{{"headers", many}}.dump());
  ExpectError(r, 422, "validation_failed");
  EXPECT_EQ(r.body["error"]["fields"][0]["message"], "At most 20 custom headers (there are 21)");
  reveal = server_->Call("GET", "/api/v1/webhooks/" + id + "/headers", admin_);
  EXPECT_EQ(reveal.body["headers"],
            (Json{{"authorization", "Bearer rotated-credential"}, {"X-Region", "eu"}}))
      << "a refused change changed nothing";

  // headers: null removes them all.
  r = server_->Call("PATCH", "/api/v1/webhooks/" + id, admin_, R"({"headers":null})");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["headers"], Json::object());

  // Not on disk in clear, nor in the service log.
  std::ifstream db(dir_.path() + "/webhookd.db", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(db)), std::istreambuf_iterator<char>());
  std::ifstream wal(dir_.path() + "/webhookd.db-wal", std::ios::binary);
  bytes.append((std::istreambuf_iterator<char>(wal)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes.find("credential"), std::string::npos);
  EXPECT_EQ(server_->Stop(), 0);
  EXPECT_EQ(server_->Log().find("credential"), std::string::npos);
}

// A secret typed in plain text is refused on create, patch and rotate, saying why: the Standard
// Webhooks libraries receivers verify with would reject every delivery it signed.
TEST_F(ApiTest, PlainTextSecretsAreRefusedEverywhereASecretIsTyped) {
  const std::string plain = R"("It's a Secret to Everybody")";
  auto r = server_->Call("POST", "/api/v1/webhooks", admin_,
                         R"({"url":"https://hooks.example.com/p","events":["device.enroll"],)"
                         R"("secret":)" +
                             plain + "}");
  ExpectError(r, 422, "validation_failed");
  EXPECT_EQ(r.body["error"]["fields"][0]["field"], "secret");
  EXPECT_EQ(r.body["error"]["fields"][0]["message"], std::string(kSecretFormMessage));
  const std::string id = CreateWebhook()["id"];
  r = server_->Call("PATCH", "/api/v1/webhooks/" + id, admin_, R"({"secret":)" + plain + "}");
  ExpectError(r, 422, "validation_failed");
  r = server_->Call("POST", "/api/v1/webhooks/" + id + "/secret/rotate", admin_,
                    R"({"secret":)" + plain + "}");
  ExpectError(r, 422, "validation_failed");
  EXPECT_EQ(r.body["error"]["fields"][0]["message"], std::string(kSecretFormMessage));
}

TEST_F(ApiTest, MainKeyFileIsPrivate) {
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() + "/master.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
}

TEST(ServeFiles, DataFilesAreTheOwnersAloneWhateverTheUmask) {
  TempDir dir;
  const mode_t old = ::umask(0);  // webhookd inherits it
  const std::string admin = CreateToken(dir.path(), "acme", "admin");
  {
    WebhookdProcess server(dir.path());
    ::umask(old);
    ASSERT_TRUE(server.started());
    EXPECT_EQ(server.Call("POST", "/api/v1/webhooks", admin, kCreateBody).status, 201);
    for (const char* name : {"webhookd.db", "webhookd.db-wal", "webhookd.db-shm", "master.key",
                             "webhookd.lock", "tokens.changed"}) {
      struct stat st {};
      ASSERT_EQ(::stat((dir.path() + "/" + name).c_str(), &st), 0) << name;
      EXPECT_EQ(st.st_mode & 0077, 0u)
          << name << " is readable by others: " << std::oct << (st.st_mode & 0777);
    }
  }
  ::umask(old);
}

TEST_F(ApiTest, ValidationErrorsNameEveryBadField) {
  auto r = server_->Call("POST", "/api/v1/webhooks", admin_,
                         R"({"url":"http://example.com","events":["device.enroll","nope"],
                             "secret":"short","active":"yes","colour":"red"})");
  ExpectError(r, 422, "validation_failed");
  const auto fields = FieldNames(r);
  for (const char* f : {"url", "events[1]", "secret", "active", "colour"}) {
    EXPECT_TRUE(fields.count(f)) << "missing error for " << f << ": " << r.raw;
  }
  for (const auto& f : r.body["error"]["fields"]) {
    if (f["field"] == "url") EXPECT_EQ(f["message"], "URL must use https");
  }
  r = server_->Call("POST", "/api/v1/webhooks", admin_, "{}");
  ExpectError(r, 422, "validation_failed");
  EXPECT_EQ(FieldNames(r), (std::set<std::string>{"url", "events"}));
  r = server_->Call("POST", "/api/v1/webhooks", admin_, R"({"url":"https://a.com","events":[]})");
  EXPECT_EQ(FieldNames(r), (std::set<std::string>{"events"}));
}

TEST_F(ApiTest, MalformedBodiesGetFourHundreds) {
  ExpectError(server_->Call("POST", "/api/v1/webhooks", admin_, "{\"url\": "), 400,
              "malformed_json");
  ExpectError(server_->Call("POST", "/api/v1/webhooks", admin_, "[1,2]"), 400, "malformed_json");
  ExpectError(server_->Call("POST", "/api/v1/webhooks", admin_, "url=https://a.com", "text/plain"),
              415, "unsupported_media_type");
  ExpectError(server_->Call("POST", "/api/v1/webhooks", admin_, ""), 400, "malformed_json");
  const std::string huge = R"({"description":")" + std::string(300 * 1024, 'a') + "\"}";
  ExpectError(server_->Call("POST", "/api/v1/webhooks", admin_, huge), 413, "payload_too_large");
  ExpectError(server_->Call("GET", "/api/v1/nowhere", admin_), 404, "not_found");
  // Nothing above was stored, and the service still answers.
  auto list = server_->Call("GET", "/api/v1/webhooks", admin_);
  ASSERT_EQ(list.status, 200);
  EXPECT_TRUE(list.body["data"].empty());
}

TEST_F(ApiTest, GarbageNeverCrashesTheServiceOrChangesData) {
  const std::string id = CreateWebhook()["id"];
  const std::vector<std::string> bodies = {"null",
                                           "true",
                                           "\"str\"",
                                           "1e999",
                                           "{\"url\":null}",
                                           "{\"events\":\"device.enroll\"}",
                                           "{\"events\":[1,2,3]}",
                                           "{\"events\":[[]]}",
                                           "{\"url\":{\"a\":1}}",
                                           "{\"active\":null}",
                                           "{\"description\":12}",
                                           "{\"secret\":[]}",
                                           "{\"url\":\"https://a.com\",\"url\":\"x\"}",
                                           std::string("{\"url\":\"https://\xff\xfe.com\"}"),
                                           "{\"a\":" + std::string(5000, '[')};
  for (const auto& body : bodies) {
    for (const std::string& path :
         std::vector<std::string>{"/api/v1/webhooks", "/api/v1/webhooks/" + id}) {
      const auto r = server_->Call(path.size() > 20 ? "PATCH" : "POST", path, admin_, body);
      EXPECT_GE(r.status, 400) << body;
      EXPECT_LT(r.status, 500) << body << " -> " << r.raw;
    }
    const auto e = server_->Call("POST", "/api/v1/events", ingest_, body);
    EXPECT_GE(e.status, 400) << body;
    EXPECT_LT(e.status, 500) << body << " -> " << e.raw;
  }
  auto get = server_->Call("GET", "/api/v1/webhooks/" + id, admin_);
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body["url"], "https://hooks.example.com/mambo");
  EXPECT_EQ(get.body["events"].size(), 2u);
}

TEST_F(ApiTest, PatchChangesOnlyWhatItNamesAndIsAudited) {
  const Json created = CreateWebhook();
  const std::string id = created["id"];
  auto r = server_->Call("PATCH", "/api/v1/webhooks/" + id, admin_,
                         R"({"events":["team.update"],"active":false,"description":null})");
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["events"], Json::array({"team.update"}));
  EXPECT_EQ(r.body["active"], false);
  EXPECT_TRUE(r.body["description"].is_null());
  EXPECT_EQ(r.body["url"], created["url"]);
  EXPECT_EQ(r.body["has_secret"], true);
  EXPECT_FALSE(r.body.contains("secret"));  // unchanged secret is not echoed

  r = server_->Call("PATCH", "/api/v1/webhooks/" + id, admin_, R"({"url":"ftp://x"})");
  ExpectError(r, 422, "validation_failed");
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks/" + id, admin_).body["events"],
            Json::array({"team.update"}));

  r = server_->Call("PATCH", "/api/v1/webhooks/" + id, admin_, R"({"secret":null})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["has_secret"], false);

  auto audit = server_->Call("GET", "/api/v1/audit", admin_);
  ASSERT_EQ(audit.status, 200);
  const Json& latest = audit.body["data"][0];
  EXPECT_EQ(latest["action"], "webhook.update");
  EXPECT_EQ(latest["target_id"], id);
  EXPECT_EQ(latest["before"]["has_secret"], true);
  EXPECT_EQ(latest["after"]["has_secret"], false);
  EXPECT_EQ(latest["after"]["secret_changed"], true);
  // Switching it off was recorded, and so was the webhook.disabled notice it caused, after it.
  EXPECT_EQ(audit.body["data"][1]["action"], "webhook.disabled");
  EXPECT_EQ(audit.body["data"][1]["after"]["by"], audit.body["data"][2]["actor"]);
  EXPECT_EQ(audit.body["data"][2]["before"]["active"], true);
  EXPECT_EQ(audit.body["data"][2]["after"]["active"], false);
  EXPECT_EQ(audit.body["data"].back()["action"], "webhook.create");
  EXPECT_EQ(latest["actor"].get<std::string>().rfind("tok_", 0), 0u);
}

TEST_F(ApiTest, DeleteRemovesAndThenNotFound) {
  const std::string id = CreateWebhook()["id"];
  auto r = server_->Call("DELETE", "/api/v1/webhooks/" + id, admin_);
  EXPECT_EQ(r.status, 204);
  ExpectError(server_->Call("GET", "/api/v1/webhooks/" + id, admin_), 404, "not_found");
  ExpectError(server_->Call("DELETE", "/api/v1/webhooks/" + id, admin_), 404, "not_found");
  auto audit = server_->Call("GET", "/api/v1/audit", admin_);
  EXPECT_EQ(audit.body["data"][0]["action"], "webhook.delete");
  EXPECT_TRUE(audit.body["data"][0]["after"].is_null());
}

TEST_F(ApiTest, KeysetPaginationWalksEveryWebhookOnce) {
  std::set<std::string> created;
  for (int i = 0; i < 7; ++i) created.insert(CreateWebhook()["id"].get<std::string>());
  std::set<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto r = server_->Call(
        "GET", "/api/v1/webhooks?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), admin_);
    ASSERT_EQ(r.status, 200) << r.raw;
    EXPECT_LE(r.body["data"].size(), 3u);
    for (const auto& w : r.body["data"]) {
      EXPECT_TRUE(seen.insert(w["id"].get<std::string>()).second);
      EXPECT_FALSE(w.contains("secret"));
    }
    cursor = r.body["next_cursor"].is_null() ? "" : r.body["next_cursor"].get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, created);
  ExpectError(server_->Call("GET", "/api/v1/webhooks?limit=0", admin_), 422, "validation_failed");
  ExpectError(server_->Call("GET", "/api/v1/webhooks?limit=abc", admin_), 422, "validation_failed");
  ExpectError(server_->Call("GET", "/api/v1/webhooks?cursor=zzz", admin_), 422,
              "validation_failed");
}

TEST_F(ApiTest, OtherTeamsGetNotFoundEverywhere) {
  const std::string id = CreateWebhook()["id"];
  const std::string base = "/api/v1/webhooks/" + id;
  for (const auto& [method, path, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", base, ""},
           {"PATCH", base, R"({"active":false})"},
           {"DELETE", base, ""},
           {"GET", base + "/secret", ""},
           {"POST", base + "/secret/rotate", "{}"},
           {"GET", base + "/deliveries", ""},
           {"POST", base + "/recover", R"({"since":"2020-01-01T00:00:00Z"})"},
           {"POST", base + "/test", "{}"}}) {
    auto r = server_->Call(method, path, other_admin_, body);
    ExpectError(r, 404, "not_found");
    EXPECT_EQ(r.raw.find("hooks.example.com"), std::string::npos);
  }
  EXPECT_TRUE(server_->Call("GET", "/api/v1/webhooks", other_admin_).body["data"].empty());
  EXPECT_TRUE(server_->Call("GET", "/api/v1/audit", other_admin_).body["data"].empty());
  // Still intact for its owner.
  auto mine = server_->Call("GET", base, admin_);
  ASSERT_EQ(mine.status, 200);
  EXPECT_EQ(mine.body["active"], true);
}

TEST_F(ApiTest, RotateMakesANewSecretAndKeepsTheOldOneForTheGracePeriod) {
  const Json created = CreateWebhook();
  const std::string id = created["id"];
  auto r = server_->Call("POST", "/api/v1/webhooks/" + id + "/secret/rotate", admin_, "");
  ASSERT_EQ(r.status, 200) << r.raw;
  const std::string fresh = r.body["secret"];
  EXPECT_NE(fresh, created["secret"]);
  EXPECT_EQ(fresh.rfind("whsec_", 0), 0u);
  ASSERT_TRUE(r.body["previous_secret_valid_until"].is_string());
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks/" + id + "/secret", admin_).body["secret"],
            fresh);
  auto bad = server_->Call("POST", "/api/v1/webhooks/" + id + "/secret/rotate", admin_,
                           R"({"grace_period_seconds":-5})");
  ExpectError(bad, 422, "validation_failed");
  auto audit = server_->Call("GET", "/api/v1/audit", admin_);
  EXPECT_EQ(audit.raw.find(fresh.substr(6)), std::string::npos);
}

TEST_F(ApiTest, IngestFansOutToActiveSubscribedWebhooksOfTheTeamOnly) {
  CreateWebhook(R"({"url":"https://a.example.com/","events":["device.enroll"]})");
  CreateWebhook(R"({"url":"https://b.example.com/","events":["device.enroll","team.update"]})");
  CreateWebhook(R"({"url":"https://c.example.com/","events":["device.enroll"],"active":false})");
  CreateWebhook(R"({"url":"https://d.example.com/","events":["team.update"]})");
  CreateWebhook(R"({"url":"https://e.example.com/","events":["device.enroll"]})", other_admin_);

  auto r = server_->Call("POST", "/api/v1/events", ingest_, EventBody("device.enroll"));
  ASSERT_EQ(r.status, 202) << r.raw;
  EXPECT_EQ(r.body["deliveries"].size(), 2u);
  EXPECT_EQ(r.body["id"].get<std::string>().rfind("evt_", 0), 0u);

  auto once = server_->Call("POST", "/api/v1/events", ingest_, EventBody("team.update", "evt-42"));
  ASSERT_EQ(once.status, 202) << once.raw;
  EXPECT_EQ(once.body["id"], "evt-42");
  EXPECT_EQ(once.body["deliveries"].size(), 2u);
  auto again = server_->Call("POST", "/api/v1/events", ingest_, EventBody("team.update", "evt-42"));
  EXPECT_EQ(again.status, 202);
  EXPECT_EQ(again.body, once.body);  // same answer, no new deliveries
}

TEST_F(ApiTest, TheEventLogShowsWhereEachEventWent) {
  const std::string a =
      CreateWebhook(R"({"url":"https://a.example.com/","events":["device.enroll"]})")["id"];
  const std::string b = CreateWebhook(
      R"({"url":"https://b.example.com/","events":["device.enroll","team.update"]})")["id"];
  ASSERT_EQ(
      server_->Call("POST", "/api/v1/events", ingest_, EventBody("device.enroll", "ev-1")).status,
      202);
  ASSERT_EQ(
      server_->Call("POST", "/api/v1/events", ingest_, EventBody("team.update", "ev-2")).status,
      202);
  auto list = server_->Call("GET", "/api/v1/events", admin_);
  ASSERT_EQ(list.status, 200) << list.raw;
  ASSERT_EQ(list.body["data"].size(), 2u);
  EXPECT_EQ(list.body["data"][0]["id"], "ev-2");
  EXPECT_FALSE(list.body["data"][0].contains("data"));
  EXPECT_TRUE(list.body["next_cursor"].is_null());
  auto page = server_->Call("GET", "/api/v1/events?limit=1", admin_);
  ASSERT_EQ(page.body["data"].size(), 1u);
  auto next = server_->Call(
      "GET", "/api/v1/events?limit=1&cursor=" + page.body["next_cursor"].get<std::string>(),
      admin_);
  EXPECT_EQ(next.body["data"][0]["id"], "ev-1");
  EXPECT_EQ(server_->Call("GET", "/api/v1/events?type=team.update", admin_).body["data"].size(),
            1u);
  EXPECT_EQ(
      server_->Call("GET", "/api/v1/events?until=2000-01-01T00:00:00Z", admin_).body["data"].size(),
      0u);
  auto bad = server_->Call("GET", "/api/v1/events?since=yesterday&type=device.explode", admin_);
  ExpectError(bad, 422, "validation_failed");
  EXPECT_EQ(FieldNames(bad), (std::set<std::string>{"since", "type"}));

  auto one = server_->Call("GET", "/api/v1/events/ev-1", admin_);
  ASSERT_EQ(one.status, 200) << one.raw;
  EXPECT_EQ(one.body["type"], "device.enroll");
  EXPECT_EQ(one.body["data"], Json::parse(EventBody("device.enroll"))["data"]);
  std::set<std::string> to;
  for (const auto& d : one.body["deliveries"]) to.insert(d["webhook_id"].get<std::string>());
  EXPECT_EQ(to, (std::set<std::string>{a, b}));
  ExpectError(server_->Call("GET", "/api/v1/events/ev-404", admin_), 404, "not_found");
  ExpectError(server_->Call("GET", "/api/v1/events/ev-1", other_admin_), 404, "not_found");
  EXPECT_EQ(server_->Call("GET", "/api/v1/events", ingest_).status, 403);
}

TEST_F(ApiTest, IngestRejectsWhatIsNotInTheCatalog) {
  auto r =
      server_->Call("POST", "/api/v1/events", ingest_, R"({"type":"device.explode","data":{}})");
  ExpectError(r, 422, "validation_failed");
  EXPECT_EQ(FieldNames(r), std::set<std::string>{"type"});
  r = server_->Call("POST", "/api/v1/events", ingest_, R"({"type":"device.enroll"})");
  EXPECT_EQ(FieldNames(r), std::set<std::string>{"data"});
  r = server_->Call("POST", "/api/v1/events", ingest_,
                    R"({"type":"device.enroll","data":[],"id":"has.dot"})");
  EXPECT_EQ(FieldNames(r), (std::set<std::string>{"data", "id"}));
  r = server_->Call("POST", "/api/v1/events", ingest_, R"({"type":"webhook.test","data":{}})");
  ExpectError(r, 422, "validation_failed");
  ExpectError(server_->Call("POST", "/api/v1/events", "", EventBody("team.update")), 401,
              "unauthorized");
}

TEST_F(ApiTest, IngestChecksTheDataAgainstItsTypesSchemaWithAPathPerField) {
  Json body = Json::parse(EventBody("device.enroll"));
  body["data"]["device"].erase("id");
  body["data"]["device"]["enrolled_at"] = "yesterday";
  body["data"]["device"]["model"] = 7;
  body["data"]["actor"]["x"] = 1;
  auto r = server_->Call("POST", "/api/v1/events", ingest_, body.dump());
  ExpectError(r, 422, "validation_failed");
  EXPECT_EQ(r.body["error"]["fields"],
            Json::parse(R"([{"field":"data/actor/x","message":"Unknown field"},
              {"field":"data/device/id","message":"Is required"},
              {"field":"data/device/enrolled_at",
               "message":"Must be an RFC 3339 date-time, e.g. 2026-03-01T09:30:00Z"},
              {"field":"data/device/model","message":"Must be a string"}])"));
  // Nothing of a refused event is stored.
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", admin_).status, 200);
  r = server_->Call("POST", "/api/v1/events", ingest_,
                    R"({"type":"team.update","data":{"team":{},"actor":{},"changes":[]}})");
  EXPECT_EQ(FieldNames(r),
            (std::set<std::string>{"data/actor/id", "data/actor/type", "data/changes",
                                   "data/team/id", "data/team/name", "data/team/updated_at"}));
}

TEST_F(ApiTest, DataSurvivesARestart) {
  const Json created = CreateWebhook();
  const std::string id = created["id"];
  ASSERT_EQ(
      server_->Call("POST", "/api/v1/events", ingest_, EventBody("device.enroll", "before-restart"))
          .status,
      202);
  EXPECT_EQ(server_->Stop(SIGTERM), 0);
  EXPECT_NE(server_->Log().find("stopped cleanly"), std::string::npos);

  server_ = std::make_unique<WebhookdProcess>(dir_.path());
  ASSERT_TRUE(server_->started());
  auto get = server_->Call("GET", "/api/v1/webhooks/" + id, admin_);
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body["url"], created["url"]);
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks/" + id + "/secret", admin_).body["secret"],
            created["secret"]);
  auto again = server_->Call("POST", "/api/v1/events", ingest_,
                             EventBody("device.enroll", "before-restart"));
  EXPECT_EQ(again.body["deliveries"].size(), 1u);
  // create + the reveal above: the audit log survived too.
  EXPECT_EQ(server_->Call("GET", "/api/v1/audit", admin_).body["data"].size(), 2u);
}

TEST_F(ApiTest, WrongMainKeyRefusesToStartInsteadOfServingGarbage) {
  CreateWebhook();
  ASSERT_EQ(server_->Stop(), 0);
  TempDir other;
  const std::string key = other.path() + "/other.key";
  std::ofstream(key) << std::string(64, 'a');
  auto r = RunWebhookd(
      {"serve", "--listen", "127.0.0.1:0", "--data-dir", dir_.path(), "--master-key-file", key});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("main key does not match"), std::string::npos) << r.err;
  // The right key still opens everything.
  server_ = std::make_unique<WebhookdProcess>(dir_.path());
  ASSERT_TRUE(server_->started());
  EXPECT_EQ(server_->Call("GET", "/api/v1/webhooks", admin_).body["data"].size(), 1u);
}

TEST_F(ApiTest, BadFlagsGiveAClearMessage) {
  auto r = RunWebhookd({"serve", "--listen", "nonsense", "--data-dir", dir_.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--listen must be HOST:PORT"), std::string::npos) << r.err;
  r = RunWebhookd({"serve", "--web-root", "/definitely/not/here", "--data-dir", dir_.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("web-root"), std::string::npos) << r.err;
  r = RunWebhookd({"serve", "--retention-days", "-1", "--data-dir", dir_.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--retention-days"), std::string::npos) << r.err;
}

// CORS for the mambo console on another origin: an allowed origin's preflight is answered (no
// credentials, cached), its requests are readable, and it may frame webhookd's pages; another
// origin gets no CORS header and a 403 preflight; without --cors-origin no origin is allowed.
TEST_F(ApiTest, CorsAnswersOnlyTheOriginsTheOperatorAllows) {
  server_.reset();
  server_ = std::make_unique<WebhookdProcess>(
      dir_.path(), std::vector<std::string>{"--cors-origin",
                                            "https://Console.Example.com:443,http://127.0.0.1:9"});
  ASSERT_TRUE(server_->started());
  auto cli = server_->Client();
  const httplib::Headers preflight{
      {"Origin", "https://console.example.com"},
      {"Access-Control-Request-Method", "POST"},
      {"Access-Control-Request-Headers", "authorization,content-type"}};
  auto ok = cli.Options("/api/v1/webhooks", preflight);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 204);
  EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), "https://console.example.com");
  EXPECT_NE(ok->get_header_value("Access-Control-Allow-Headers").find("Authorization"),
            std::string::npos);
  EXPECT_NE(ok->get_header_value("Access-Control-Allow-Methods").find("PATCH"), std::string::npos);
  EXPECT_EQ(ok->get_header_value("Access-Control-Max-Age"), "7200");
  EXPECT_FALSE(ok->has_header("Access-Control-Allow-Credentials"));

  const httplib::Headers allowed{{"Origin", "http://127.0.0.1:9"},
                                 {"Authorization", "Bearer " + admin_}};
  auto list = cli.Get("/api/v1/webhooks", allowed);
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(list->get_header_value("Access-Control-Allow-Origin"), "http://127.0.0.1:9");
  EXPECT_EQ(list->get_header_value("Vary"), "Origin");
  EXPECT_NE(list->get_header_value("Content-Security-Policy")
                .find("frame-ancestors https://console.example.com http://127.0.0.1:9"),
            std::string::npos)
      << list->get_header_value("Content-Security-Policy");
  EXPECT_FALSE(list->has_header("X-Frame-Options")) << "it cannot name origins";

  const httplib::Headers other{{"Origin", "https://evil.example"},
                               {"Authorization", "Bearer " + admin_}};
  auto theirs = cli.Get("/api/v1/webhooks", other);
  ASSERT_TRUE(theirs);
  EXPECT_FALSE(theirs->has_header("Access-Control-Allow-Origin"));
  auto refused =
      cli.Options("/api/v1/webhooks", httplib::Headers{{"Origin", "https://evil.example"},
                                                       {"Access-Control-Request-Method", "GET"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_FALSE(refused->has_header("Access-Control-Allow-Origin"));

  server_.reset();
  server_ = std::make_unique<WebhookdProcess>(dir_.path());
  ASSERT_TRUE(server_->started());
  auto none = server_->Client().Options("/api/v1/webhooks", preflight);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 403);
  EXPECT_FALSE(none->has_header("Access-Control-Allow-Origin"));
  auto plain = server_->Client().Get("/api/v1/webhooks", allowed);
  ASSERT_TRUE(plain);
  EXPECT_FALSE(plain->has_header("Access-Control-Allow-Origin"));
  EXPECT_EQ(plain->get_header_value("X-Frame-Options"), "DENY");

  for (const char* bad :
       {"https://a.example/path", "ftp://a.example", "a.example", "https://user@a.example"}) {
    auto r = RunWebhookd({"serve", "--cors-origin", bad, "--data-dir", dir_.path()});
    EXPECT_EQ(r.exit_code, 105) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("origin " + std::string(bad)), std::string::npos) << r.err;
  }
}

TEST(ServeStatic, ServesConsoleFilesWithTheRightTypesAndHealth) {
  TempDir dir, web;
  std::ofstream(web.path() + "/index.html") << "<!doctype html><title>console</title>";
  std::ofstream(web.path() + "/console.wasm") << std::string("\0asm", 4);
  std::ofstream(web.path() + "/console.js") << "var Module;";
  WebhookdProcess server(dir.path(), {"--web-root", web.path()});
  ASSERT_TRUE(server.started());
  auto cli = server.Client();
  auto index = cli.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_NE(index->body.find("console"), std::string::npos);
  EXPECT_EQ(index->get_header_value("Content-Type").rfind("text/html", 0), 0u);
  auto wasm = cli.Get("/console.wasm");
  ASSERT_TRUE(wasm);
  EXPECT_EQ(wasm->get_header_value("Content-Type"), "application/wasm");
  auto js = cli.Get("/console.js");
  ASSERT_TRUE(js);
  EXPECT_NE(js->get_header_value("Content-Type").find("javascript"), std::string::npos);
  // Browsers offer br; webhookd answers gzip (brotli at httplib's quality 11 is too slow).
  std::ofstream(web.path() + "/big.js") << std::string(64 * 1024, 'x');
  auto compressed = cli.Get("/big.js", {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_TRUE(compressed);
  EXPECT_EQ(compressed->get_header_value("Content-Encoding"), "gzip");
  EXPECT_EQ(compressed->body.size(), 64u * 1024);  // the client inflated it back
  auto health = cli.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = cli.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

}  // namespace
}  // namespace mambo::testing
