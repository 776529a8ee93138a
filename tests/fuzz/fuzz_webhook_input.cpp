// libFuzzer: the webhook create/update body parser and the validators behind it (URL, secret,
// description, events, custom headers), as the API and the console run them on what a user
// sends.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "mambo/text.h"
#include "mambo/validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto mode : {mambo::InputMode::kCreate, mambo::InputMode::kUpdate}) {
    mambo::WebhookInput in;
    const mambo::FieldErrors errors = mambo::ParseWebhookInput(text, mode, in);
    // Every message must be serialisable as the API's 422 would send it.
    mambo::Json j = mambo::Json::array();
    for (const auto& e : errors) j.push_back(e);
    if (!mambo::IsValidUtf8(mambo::DumpJson(j))) __builtin_trap();
    // Headers accepted are headers that can be sent: no line break can reach the wire, and a
    // change merged into a set keeps every name unique.
    if (errors.empty() && in.headers) {
      const mambo::Headers merged =
          mambo::ApplyHeaderChanges({{"X-Existing", "v"}, {"x-api-key", "k"}}, *in.headers);
      for (const auto& [name, value] : merged) {
        if (mambo::HeaderNameError(name) || mambo::HeaderValueError(value)) __builtin_trap();
        if (value.find_first_of("\r\n") != std::string::npos) __builtin_trap();
      }
      for (const auto& e : mambo::HeadersErrors(merged)) {
        if (e.field != "headers") __builtin_trap();  // a duplicate name survived the merge
      }
    }
  }
  mambo::UrlError(text);
  mambo::SecretError(text);
  mambo::DescriptionError(text);
  mambo::HeaderNameError(text);
  mambo::HeaderValueError(text);
  return 0;
}
