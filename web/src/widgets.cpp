#include "widgets.h"

#include <cmath>
#include <cstdio>

#include "ui_state.h"

namespace mambo::web {

void TextView(std::string_view s) {
  ImGui::TextUnformatted(s.data(), s.data() + s.size());
}

void ErrorText(std::string_view message) {
  ImGui::PushStyleColor(ImGuiCol_Text, kErrorColor);
  ImGui::PushTextWrapPos(0.0f);
  TextView(message);
  ImGui::PopTextWrapPos();
  ImGui::PopStyleColor();
}

void Spinner() {
  const double t = ImGui::GetTime();
  static const char* kFrames[] = {"\xc2\xb7  ", " \xc2\xb7 ", "  \xc2\xb7", " \xc2\xb7 "};
  ImGui::TextColored(kAccentColor, "%s", kFrames[static_cast<int>(t * 6.0) % 4]);
}

std::string RelativeTime(int64_t now_ms, int64_t t_ms) {
  if (t_ms == 0) return "-";
  const int64_t d = now_ms - t_ms;
  const int64_t a = d < 0 ? -d : d;
  char buf[48];
  if (a < 1000) return d < 0 ? "now" : "just now";
  if (a < 60'000) {
    std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(a / 1000));
  } else if (a < 3'600'000) {
    std::snprintf(buf, sizeof buf, "%lld min", static_cast<long long>(a / 60'000));
  } else if (a < 86'400'000) {
    std::snprintf(buf, sizeof buf, "%lld h", static_cast<long long>(a / 3'600'000));
  } else {
    std::snprintf(buf, sizeof buf, "%lld d", static_cast<long long>(a / 86'400'000));
  }
  return d < 0 ? std::string("in ") + buf : std::string(buf) + " ago";
}

std::string ShortTime(int64_t t_ms) {
  if (t_ms == 0) return "-";
  std::string s = FormatTimestamp(t_ms);  // 2026-11-29T02:19:12.123Z
  if (s.size() >= 19) s = s.substr(0, 10) + " " + s.substr(11, 8) + "Z";
  return s;
}

std::string DurationText(int64_t ms) {
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f min", static_cast<double>(ms) / 60'000.0);
  }
  return buf;
}

ImVec4 StatusColor(DeliveryStatus s) {
  switch (s) {
    case DeliveryStatus::kSucceeded:
      return kOkColor;
    case DeliveryStatus::kFailed:
      return kWarnColor;
    case DeliveryStatus::kExhausted:
      return kErrorColor;
    case DeliveryStatus::kInFlight:
      return kAccentColor;
    case DeliveryStatus::kPending:
    case DeliveryStatus::kCancelled:
      break;
  }
  return kMutedColor;
}

std::string DeliveryResultText(const Delivery& d) {
  std::string s(ToString(d.status));
  if (d.last_http_status) {
    s += " " + std::to_string(*d.last_http_status);
  } else if (d.last_cause != FailureCause::kNone) {
    s += ": " + std::string(ToString(d.last_cause));
  }
  return s;
}

bool NamedButton(UiState& ui, const std::string& name, const char* label, bool enabled) {
  ImGui::BeginDisabled(!enabled);
  const bool pressed = ImGui::Button(label);
  ImGui::EndDisabled();
  ui.RecordLastItem(name);
  return pressed && enabled;
}

}  // namespace mambo::web
