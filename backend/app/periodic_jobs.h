#pragma once
// Housekeeping that runs every so often (retention, auto-disable, reclaiming expired leases),
// on one thread, each job under its store lock (store::JobLocks): with several instances on one
// database a job runs in one of them at a time, and every job is idempotent, so whichever
// instance gets there first does the work.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

namespace mambo::app {

class PeriodicJobs {
 public:
  explicit PeriodicJobs(store::JobLocks& locks) : locks_(locks) {}
  ~PeriodicJobs() { Stop(); }

  // `run` returns true when it left work for right away (a batch limit was reached): it runs
  // again at once instead of after `every`. It may throw; the error is logged.
  void Add(std::string name, std::chrono::milliseconds every, std::function<bool()> run);
  void Start();
  void Stop();  // waits for a run in progress

 private:
  struct Job {
    std::string name;
    std::chrono::milliseconds every;
    std::function<bool()> run;
    std::chrono::steady_clock::time_point next;
  };
  void Loop();

  store::JobLocks& locks_;
  std::vector<Job> jobs_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace mambo::app
