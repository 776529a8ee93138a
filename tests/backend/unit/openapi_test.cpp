// The OpenAPI document (backend/api/openapi.json, served at /api/v1/openapi.json) describes
// exactly the routes ApiServer registers: a route added without documenting it, or a documented
// route that does not exist, fails here. (tests/browser/openapi.test.mjs validates the document
// itself with an OpenAPI 3.1 validator from npm.)
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

#include "api/api_server.h"
#include "api/openapi_document.h"
#include "crypto/crypto.h"
#include "mambo/validation.h"
#include "store/sqlite_store.h"

namespace mambo::api {
namespace {

// "/api/v1/webhooks/([A-Za-z0-9_-]{1,64})/secret" -> "/api/v1/webhooks/{}/secret": each
// capture group is one path parameter, whatever the document names it.
std::string Template(const std::string& pattern) {
  return std::regex_replace(pattern, std::regex(R"(\([^)]*\))"), "{}");
}

TEST(OpenApi, DescribesExactlyTheRoutesTheApiRegisters) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("mambo-openapi-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    store::SqliteStore store(dir.string(), crypto::SecretBox(std::string(32, 'k')));
    ApiServer api(
        store::StoreRoles{store, store, store}, [] { return int64_t{1}; }, ApiOptions{}, nullptr);
    httplib::Server server;
    api.Register(server);

    const auto doc = ParseJson(detail::OpenApiFiles().front().text);
    ASSERT_TRUE(doc);
    EXPECT_EQ((*doc)["openapi"], "3.1.0");
    std::set<std::string> documented, registered;
    for (const auto& [path, item] : (*doc)["paths"].items()) {
      if (path.rfind("/api/v1/", 0) != 0) continue;  // /healthz and co.: the service test
      for (const auto& [method, op] : item.items()) {
        std::string upper = method;
        for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        documented.insert(upper + " " + std::regex_replace(path, std::regex(R"(\{[^}]*\})"), "{}"));
      }
    }
    for (const auto& r : api.routes()) registered.insert(r.method + " " + Template(r.pattern));
    EXPECT_EQ(documented, registered);
    EXPECT_GE(registered.size(), 19u);  // the routes were seen at all
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mambo::api
