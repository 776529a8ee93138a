// libFuzzer: the webhook URL validator and the log redaction of URLs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mambo/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto error = mambo::UrlError(text);
  const std::string redacted = mambo::RedactUrl(text);
  // Redaction never adds what was not there, and a query never survives it.
  if (redacted.size() > text.size() + 4) __builtin_trap();
  if (!error && redacted.find('@') != std::string::npos) __builtin_trap();
  return 0;
}
