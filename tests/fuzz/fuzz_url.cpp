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
  // Redaction never adds what was not there; for the URLs webhookd stores (the valid ones) it
  // leaves no user info in the authority and no query. (Garbage stays garbage, shorter.)
  if (redacted.size() > text.size() + 4) __builtin_trap();
  if (error) return 0;
  const size_t scheme = redacted.find("://");
  const size_t authority = scheme == std::string::npos ? 0 : scheme + 3;
  const size_t authority_end = redacted.find_first_of("/?#", authority);
  const std::string_view host = std::string_view(redacted).substr(
      authority,
      authority_end == std::string::npos ? std::string::npos : authority_end - authority);
  if (host.find('@') != std::string_view::npos) __builtin_trap();
  const size_t query = redacted.find_first_of("?#");
  if (query != std::string::npos && redacted.substr(query) != "?...") __builtin_trap();
  return 0;
}
