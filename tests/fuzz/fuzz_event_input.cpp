// libFuzzer: POST /events bodies: the JSON parse with its depth limit, then the event fields
// and the data against its type's schema (seeds 3-5 are valid events, so mutations reach deep
// into the schema checks), then the payload webhookd would sign and send for the event.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mambo/text.h"
#include "mambo/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  const auto body = mambo::ParseJson(text, &why);
  if (!body) return 0;
  mambo::Event e;
  const mambo::FieldErrors errors = mambo::ParseEventInput(*body, e);
  if (errors.empty()) {
    // Stored and sent as text: it must come back as the same value.
    const std::string stored = mambo::DumpJson(e.data);
    const auto again = mambo::ParseJson(stored);
    if (!again || *again != e.data) __builtin_trap();
  }
  return 0;
}
