#pragma once
// Time as the delivery engine sees it. Everything that schedules or timestamps takes a Clock so
// tests can run a 3-day retry schedule in microseconds with a ManualClock instead of sleeping.

#include <atomic>
#include <cstdint>

namespace mambo::delivery {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix time in milliseconds (UTC): the unit of every timestamp in mambo/models.h.
  virtual int64_t NowMs() const = 0;
};

// Wall clock. Not monotonic: use it for timestamps and schedules that are stored, never to
// measure durations (the sender measures durations with std::chrono::steady_clock).
class SystemClock : public Clock {
 public:
  int64_t NowMs() const override;
};

// A clock that moves only when told to. Thread-safe, so a test can advance it while a worker
// thread reads it.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t start_ms = 0) : now_ms_(start_ms) {}
  int64_t NowMs() const override { return now_ms_.load(); }
  void Set(int64_t now_ms) { now_ms_.store(now_ms); }
  void Advance(int64_t delta_ms) { now_ms_.fetch_add(delta_ms); }

 private:
  std::atomic<int64_t> now_ms_;
};

}  // namespace mambo::delivery
