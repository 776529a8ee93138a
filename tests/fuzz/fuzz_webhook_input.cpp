// libFuzzer: the webhook create/update body parser and the validators behind it (URL, secret,
// description, events), as the API and the console run them on what a user sends.
#include <cstddef>
#include <cstdint>
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
  }
  mambo::UrlError(text);
  mambo::SecretError(text);
  mambo::DescriptionError(text);
  return 0;
}
