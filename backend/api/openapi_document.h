#pragma once
// api/openapi.json (OpenAPI 3.1, every route), compiled in: GET /api/v1/openapi.json serves it.

#include <string_view>
#include <vector>

namespace mambo::api::detail {

struct EmbeddedFile {
  std::string_view name;  // "openapi"
  std::string_view text;
};
const std::vector<EmbeddedFile>& OpenApiFiles();

}  // namespace mambo::api::detail
