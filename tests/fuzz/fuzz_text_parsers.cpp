// libFuzzer: the small parsers of shared/: RFC 3339 timestamps (what parses must format back and
// parse to the same instant), strict base64, secrets, UTF-8 repair and the JSON depth scan.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mambo/models.h"
#include "mambo/text.h"
#include "mambo/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto ms = mambo::ParseTimestamp(text)) {
    const std::string back = mambo::FormatTimestamp(*ms);
    if (back.size() != 24 || mambo::ParseTimestamp(back) != ms) __builtin_trap();
  }
  mambo::DecodeBase64(text);
  if (!mambo::SecretError(text)) mambo::SecretKey(text);
  const std::string repaired = mambo::ToValidUtf8(text);
  if (!mambo::IsValidUtf8(repaired)) __builtin_trap();
  if (mambo::IsValidUtf8(text) && repaired != text) __builtin_trap();
  mambo::JsonNestingDepth(text);
  return 0;
}
