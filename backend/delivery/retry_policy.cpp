#include "delivery/retry_policy.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>

#include "mambo/models.h"
#include "util/text.h"

namespace mambo::delivery {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;
constexpr int64_t kHour = 60 * kMinute;

int MonthIndex(std::string_view name) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (name == kMonths[i]) return i + 1;
  }
  return 0;
}

// A small cursor over the header text; every parse step either consumes exactly what it expects
// or fails, so garbage never half-parses into a date.
struct Cursor {
  std::string_view s;
  bool Literal(std::string_view lit) {
    if (s.substr(0, lit.size()) != lit) return false;
    s.remove_prefix(lit.size());
    return true;
  }
  bool Number(size_t min_digits, size_t max_digits, int& out) {
    size_t n = 0;
    int value = 0;
    while (n < s.size() && n < max_digits && std::isdigit(static_cast<unsigned char>(s[n]))) {
      value = value * 10 + (s[n] - '0');
      ++n;
    }
    if (n < min_digits) return false;
    s.remove_prefix(n);
    out = value;
    return true;
  }
  bool Word(std::string_view& out) {
    size_t n = 0;
    while (n < s.size() && std::isalpha(static_cast<unsigned char>(s[n]))) ++n;
    if (n == 0) return false;
    out = s.substr(0, n);
    s.remove_prefix(n);
    return true;
  }
  bool Time(int& h, int& m, int& sec) {
    return Number(2, 2, h) && Literal(":") && Number(2, 2, m) && Literal(":") && Number(2, 2, sec);
  }
};

std::optional<int64_t> ParseHttpDateMs(std::string_view text) {
  Cursor c{text};
  std::string_view weekday, month_name;
  int day = 0, year = 0, h = 0, m = 0, sec = 0;
  if (!c.Word(weekday)) return std::nullopt;
  if (c.Literal(", ")) {
    if (weekday.size() == 3) {
      // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
      if (!(c.Number(2, 2, day) && c.Literal(" ") && c.Word(month_name) && c.Literal(" ") &&
            c.Number(4, 4, year) && c.Literal(" ") && c.Time(h, m, sec) && c.Literal(" GMT"))) {
        return std::nullopt;
      }
    } else {
      // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT". Two-digit years: RFC 9110 says a year that
      // appears more than 50 years in the future is in the past; 19xx/20xx split at 70 is the
      // same answer for every date this service will see.
      if (!(c.Number(2, 2, day) && c.Literal("-") && c.Word(month_name) && c.Literal("-") &&
            c.Number(2, 2, year) && c.Literal(" ") && c.Time(h, m, sec) && c.Literal(" GMT"))) {
        return std::nullopt;
      }
      year += year < 70 ? 2000 : 1900;
    }
  } else if (c.Literal(" ")) {
    // asctime: "Sun Nov  6 08:49:37 1994"
    if (!(c.Word(month_name) && c.Literal(" "))) return std::nullopt;
    c.Literal(" ");  // single-digit days are space-padded
    if (!(c.Number(1, 2, day) && c.Literal(" ") && c.Time(h, m, sec) && c.Literal(" ") &&
          c.Number(4, 4, year))) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  if (!c.s.empty()) return std::nullopt;
  const int month = MonthIndex(month_name);
  if (month == 0 || day < 1 || day > 31 || h > 23 || m > 59 || sec > 60) return std::nullopt;
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  return ((days * 24 + h) * 60 + m) * 60 * kSecond + int64_t{sec} * kSecond;
}

}  // namespace

std::vector<int64_t> DefaultRetryScheduleMs() {
  return {0,         5 * kSecond, 5 * kMinute, 30 * kMinute, 2 * kHour,
          5 * kHour, 10 * kHour,  14 * kHour,  20 * kHour,   24 * kHour};
}

std::optional<int64_t> ParseRetryAfter(std::string_view value, int64_t now_ms) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    // Saturate instead of overflowing: any huge value is clamped by the policy anyway.
    int64_t seconds = 0;
    for (char ch : value) {
      seconds = seconds * 10 + (ch - '0');
      if (seconds > int64_t{10} * 365 * 24 * 3600) break;
    }
    return seconds * kSecond;
  }
  auto at = ParseHttpDateMs(value);
  if (!at) return std::nullopt;
  return std::max<int64_t>(0, *at - now_ms);
}

RetryPolicy::RetryPolicy(Random random, std::vector<int64_t> schedule_ms, double jitter)
    : random_(std::move(random)), schedule_ms_(std::move(schedule_ms)), jitter_(jitter) {
  // Configuration errors, caught at startup: a policy without attempts or with a jitter that can
  // make delays negative is a programming error, not a runtime condition.
  if (!random_) throw std::invalid_argument("RetryPolicy needs a random source");
  if (schedule_ms_.empty()) throw std::invalid_argument("RetryPolicy needs at least one attempt");
  if (jitter_ < 0 || jitter_ >= 1)
    throw std::invalid_argument("RetryPolicy jitter must be in [0,1)");
}

RetryPolicy RetryPolicy::Seeded(uint64_t seed) {
  struct State {
    std::mutex mutex;
    std::mt19937_64 engine;
    std::uniform_real_distribution<double> dist{0.0, 1.0};
  };
  auto state = std::make_shared<State>();
  state->engine.seed(seed);
  return RetryPolicy([state] {
    std::lock_guard<std::mutex> lock(state->mutex);
    return state->dist(state->engine);
  });
}

int64_t RetryPolicy::BaseDelayMs(int number) const {
  if (number < 1 || number > max_attempts()) {
    throw std::out_of_range("attempt number outside the retry schedule");
  }
  return schedule_ms_[static_cast<size_t>(number - 1)];
}

std::optional<int64_t> RetryPolicy::NextAttemptAt(int attempts_made, int64_t now_ms,
                                                  std::optional<int64_t> retry_after_ms) const {
  if (attempts_made < 1) return now_ms;  // nothing tried yet: the first attempt is immediate
  if (attempts_made >= max_attempts()) return std::nullopt;
  const int64_t base = schedule_ms_[static_cast<size_t>(attempts_made)];
  const double r = std::clamp(random_(), 0.0, 1.0);
  int64_t delay = std::llround(static_cast<double>(base) * (1.0 + jitter_ * (2.0 * r - 1.0)));
  if (retry_after_ms) delay = std::clamp(*retry_after_ms, delay, 2 * delay);
  return now_ms + delay;
}

}  // namespace mambo::delivery
