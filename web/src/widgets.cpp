#include "widgets.h"

#include <cmath>
#include <cstdio>

#include "ui_state.h"

namespace mambo::web {

void TextView(std::string_view s) {
  ImGui::TextUnformatted(s.data(), s.data() + s.size());
}

bool ElidedText(std::string_view s, float max_width) {
  const auto width = [](std::string_view t) {
    return ImGui::CalcTextSize(t.data(), t.data() + t.size()).x;
  };
  if (width(s) <= max_width) {
    TextView(s);
    return false;
  }
  // Keep as many characters of each end as fit (byte-wise, then back to a UTF-8 boundary).
  const auto boundary = [&](size_t i) {
    while (i > 0 && i < s.size() && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    return i;
  };
  size_t lo = 0, hi = s.size();
  while (lo < hi) {  // the most characters n (n/2 from each end) that fit with "..."
    const size_t n = (lo + hi + 1) / 2;
    const std::string t = std::string(s.substr(0, boundary(n - n / 2))) + "..." +
                          std::string(s.substr(s.size() - n / 2));
    if (width(t) <= max_width) {
      lo = n;
    } else {
      hi = n - 1;
    }
  }
  const size_t head = boundary(lo - lo / 2);
  size_t tail = s.size() - lo / 2;
  while (tail < s.size() && (static_cast<unsigned char>(s[tail]) & 0xC0) == 0x80) ++tail;
  const std::string shown = std::string(s.substr(0, head)) + "..." + std::string(s.substr(tail));
  TextView(shown);
  if (ImGui::IsItemHovered()) {
    ImGui::BeginTooltip();
    ImGui::PushTextWrapPos(ImGui::GetFontSize() * 40.0f);
    TextView(s);
    ImGui::PopTextWrapPos();
    ImGui::EndTooltip();
  }
  return true;
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

std::string DeliveryResultText(const Delivery& d, int64_t now_ms, bool webhook_active) {
  std::string last;  // the last attempt's answer or failure
  if (d.last_http_status) {
    last = std::to_string(*d.last_http_status);
  } else if (d.last_cause != FailureCause::kNone) {
    last = std::string(ToString(d.last_cause));
  }
  const std::string next_try = "try " + std::to_string(d.attempt_count + 1) + " of " +
                               std::to_string(kMaxDeliveryAttempts) + ")";
  const bool waiting = d.status == DeliveryStatus::kPending || d.status == DeliveryStatus::kFailed;
  if (waiting && !webhook_active) return "Paused: webhook inactive";
  switch (d.status) {
    case DeliveryStatus::kSucceeded:
      return last.empty() ? "Succeeded" : "Succeeded " + last;
    case DeliveryStatus::kInFlight:
      return "Sending (" + next_try;
    case DeliveryStatus::kPending:
      return d.attempt_count == 0 ? "Queued" : "Retrying now (" + next_try;
    case DeliveryStatus::kFailed: {
      const std::string when =
          d.next_attempt_at > now_ms ? RelativeTime(now_ms, d.next_attempt_at) : "now";
      return "Retrying " + when + " (" + next_try + (last.empty() ? "" : " after " + last);
    }
    case DeliveryStatus::kExhausted:
      return "Failed: gave up after " + std::to_string(d.attempt_count) + " tr" +
             (d.attempt_count == 1 ? "y" : "ies") + (last.empty() ? "" : ", last " + last);
    case DeliveryStatus::kCancelled:
      return "Cancelled";
  }
  return std::string(ToString(d.status));
}

bool NamedButton(UiState& ui, const std::string& name, const char* label, bool enabled) {
  ImGui::BeginDisabled(!enabled);
  const bool pressed = ImGui::Button(label);
  ImGui::EndDisabled();
  ui.RecordLastItem(name);
  return pressed && enabled;
}

}  // namespace mambo::web
