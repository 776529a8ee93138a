// libFuzzer: what a receiver sends back, as the sender handles it: the response head line by line
// (status lines, headers, caps), Retry-After, and the body excerpt; the attempt must then be
// recordable (its JSON valid UTF-8) whatever the bytes were.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "delivery/http_sender.h"
#include "delivery/retry_policy.h"
#include "mambo/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const size_t head_end = text.find("\r\n\r\n");
  std::string_view head = text.substr(0, head_end);
  const std::string_view body =
      head_end == std::string_view::npos ? std::string_view() : text.substr(head_end + 4);
  mambo::DeliveryAttempt attempt;
  size_t kept = 0;
  while (!head.empty()) {
    const size_t nl = head.find('\n');
    mambo::delivery::AddResponseHeadLine(head.substr(0, nl), attempt, kept);
    head = nl == std::string_view::npos ? std::string_view() : head.substr(nl + 1);
  }
  if (attempt.response_headers.size() > mambo::kMaxStoredResponseHeaders) __builtin_trap();
  if (auto retry = mambo::delivery::HeaderValue(attempt.response_headers, "Retry-After")) {
    mambo::delivery::ParseRetryAfter(*retry, 1'700'000'000'000);
  }
  attempt.response_excerpt =
      mambo::ToValidUtf8(body.substr(0, std::min(body.size(), mambo::kResponseExcerptLimit)));
  const std::string json = mambo::DumpJson(mambo::Json(attempt));
  if (!mambo::IsValidUtf8(json)) __builtin_trap();
  return 0;
}
