#pragma once
// The text of shared/events/*.json, compiled in (the build generates the definition).

#include <string_view>
#include <vector>

namespace mambo::detail {

struct EmbeddedFile {
  std::string_view name;  // the file name without ".json": an event type id, or "common"
  std::string_view text;
};
const std::vector<EmbeddedFile>& EventSchemaFiles();

}  // namespace mambo::detail
