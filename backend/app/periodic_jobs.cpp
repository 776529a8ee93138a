#include "app/periodic_jobs.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "util/thread.h"

namespace mambo::app {

void PeriodicJobs::Add(std::string name, std::chrono::milliseconds every,
                       std::function<bool()> run) {
  jobs_.push_back(Job{std::move(name), every, std::move(run), std::chrono::steady_clock::now()});
}

void PeriodicJobs::Start() {
  if (!jobs_.empty()) thread_ = std::thread([this] { Loop(); });
}

void PeriodicJobs::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicJobs::Loop() {
  SetUpThread("periodic", 10);
  std::unique_lock lock(mu_);
  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    for (Job& job : jobs_) {
      if (job.next > now || stop_) continue;
      lock.unlock();
      bool more = false;
      try {
        // Another instance holding the job's lock is doing this same work now.
        locks_.RunExclusive(job.name, [&] { more = job.run(); });
      } catch (const std::exception& e) {
        spdlog::error("{} failed: {} (next try in {} s)", job.name, e.what(),
                      job.every.count() / 1000);
      }
      lock.lock();
      job.next = more ? std::chrono::steady_clock::now() : now + job.every;
    }
    auto next = jobs_.front().next;
    for (const Job& job : jobs_) next = std::min(next, job.next);
    cv_.wait_until(lock, next, [&] { return stop_; });
  }
}

}  // namespace mambo::app
