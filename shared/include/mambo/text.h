#pragma once
// Text that crosses a trust boundary: bytes from API clients and from receivers are hostile
// (invalid UTF-8, nesting deep enough to overflow a recursive walker). These are the checks and
// repairs every edge uses, and the one JSON serialisation that cannot throw on bytes.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "mambo/models.h"

namespace mambo {

// Deepest nesting of arrays and objects accepted in any JSON document webhookd reads. nlohmann's
// parser is iterative, but copying, comparing and dumping a value recurse once per level: tens of
// thousands of '[' overflowed the stack. 64 is far beyond any event payload (the catalog's
// schemas nest 4 deep).
inline constexpr size_t kMaxJsonDepth = 64;

// Number of code points when `text` is valid UTF-8 (no overlongs, surrogates or > U+10FFFF).
std::optional<size_t> Utf8Length(std::string_view text);
inline bool IsValidUtf8(std::string_view text) {
  return Utf8Length(text).has_value();
}

// `text` with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD. Text
// that is already valid comes back unchanged.
std::string ToValidUtf8(std::string_view text);

// The deepest nesting of '[' and '{' outside strings, counting no further than `stop_after`
// (a document that deep is refused anyway, so the scan ends there). Not a validator: malformed
// text gets a number too.
size_t JsonNestingDepth(std::string_view text, size_t stop_after = kMaxJsonDepth + 1);

// Compact JSON text of `j`. Strings that are not valid UTF-8 (they can only come from bytes a
// client or receiver sent) are written with U+FFFD instead of throwing, so no error path can be
// turned into a crash by the bytes it echoes.
std::string DumpJson(const Json& j, int indent = -1);

}  // namespace mambo
