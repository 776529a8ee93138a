#pragma once
// Small drawing helpers shared by the screens: colours, status badges, times, errors, progress.

#include <imgui.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mambo/models.h"

namespace mambo::web {

class UiState;

inline const ImVec4 kErrorColor(0.96f, 0.42f, 0.40f, 1.0f);
inline const ImVec4 kOkColor(0.34f, 0.83f, 0.39f, 1.0f);
inline const ImVec4 kWarnColor(0.95f, 0.75f, 0.30f, 1.0f);
inline const ImVec4 kMutedColor(0.60f, 0.64f, 0.70f, 1.0f);
inline const ImVec4 kAccentColor(0.35f, 0.60f, 1.00f, 1.0f);

void TextView(std::string_view s);
// `s` in at most `max_width` pixels: cut in the middle with "..." when longer (the start and the
// end of a URL say the most), the whole text in a tooltip on hover. Returns whether it was cut.
bool ElidedText(std::string_view s, float max_width);
void ErrorText(std::string_view message);  // wrapped, in the error colour
void Spinner();                            // a small animated dot line (progress)

// "3 s ago", "5 min ago", "in 2 min"; "-" for 0.
std::string RelativeTime(int64_t now_ms, int64_t t_ms);
// Local-looking short UTC time "2026-11-29 02:19:12Z".
std::string ShortTime(int64_t t_ms);
// "840 ms", "2.4 s", "1.5 min".
std::string DurationText(int64_t ms);

ImVec4 StatusColor(DeliveryStatus s);
// What a delivery's state means, in words: "Succeeded 200", "Sending (try 2 of 10)",
// "Retrying in 52 s (try 4 of 10) after 503", "Failed: gave up after 10 tries, last 500",
// "Paused: webhook inactive", "Queued", "Cancelled". `webhook_active`: a waiting delivery of an
// inactive webhook is paused, not about to be tried.
std::string DeliveryResultText(const Delivery& d, int64_t now_ms, bool webhook_active = true);

// A button whose rectangle is reported to tests as `name`. Disabled buttons do nothing.
bool NamedButton(UiState& ui, const std::string& name, const char* label, bool enabled = true);

}  // namespace mambo::web
