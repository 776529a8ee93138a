#pragma once
// Waiting on a condition, with a deadline: what tests do instead of sleeping for a guessed time.

#include <chrono>
#include <thread>

namespace mambo::testing {

// Polls `done` until it holds or `timeout` passes; whether it held.
template <typename F>
bool WaitUntil(F done, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

}  // namespace mambo::testing
