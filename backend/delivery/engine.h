#pragma once
// The delivery engine: takes due deliveries from the store's queue (a table, not memory),
// signs and POSTs them (at most `workers` at once, all on the sender's event loop), records
// every attempt, and schedules retries. Crash safety comes from leases: a delivery leased by a
// process that dies becomes due again when its lease expires, so every accepted event reaches every
// subscribed webhook at least once (receivers dedupe by webhook-id, which is the event id).
//
// Fairness: each webhook (endpoint) has a concurrency cap and a small in-memory backlog; a
// webhook at its cap is left out of the next lease, so a slow or dead endpoint holds at most
// `per_endpoint_concurrency` send slots and never delays the others. Each team has the same
// kind of cap over all its endpoints (`per_team_concurrency`), so one team's many dead
// endpoints cannot take every slot either.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "delivery/clock.h"
#include "delivery/http_sender.h"
#include "delivery/retry_policy.h"
#include "store/store.h"

namespace mambo::delivery {

struct EngineOptions {
  int workers = 32;  // requests in flight at once, all receivers together
  int per_endpoint_concurrency = 8;
  // Requests in flight for one team, all its endpoints together (0: three quarters of
  // `workers`). A team whose endpoints all hang holds at most this many slots; the rest stay
  // free for the other teams.
  int per_team_concurrency = 0;
  // How long a lease lasts: longer than a send can take (request timeout) plus the wait in the
  // in-memory backlog, so a live process never sees its own work handed out again.
  int64_t lease_ms = 60000;
  // Longest the dispatcher sleeps without a wake-up: it also notices leases expired by a
  // crashed process and work queued by another process (the token CLI shares the database).
  int64_t max_idle_wait_ms = 1000;
  // The dispatcher runs this many nice steps below the API and the store: when the
  // CPUs are short, accepting events (which callers wait for) goes first and deliveries, which
  // are queued durably, catch up after. Off by default: on 2 cores it cost ~10 % of end-to-end
  // delivery throughput while ingest ran alongside (bench/delivery_bench.sh).
  int nice = 0;
  std::string version = "0.1.0";
};

// Counters for /metrics, since process start.
struct EngineMetrics {
  std::atomic<uint64_t> succeeded{0}, failed{0}, exhausted{0};
  std::atomic<uint64_t> lease_lost{0};  // attempts fenced out: sent after their lease expired
  std::atomic<uint64_t> in_progress{0};
  // Attempt latency histogram (seconds), Prometheus-style cumulative on output.
  static constexpr double kBuckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,    2.5,   5,    10,  15};
  std::atomic<uint64_t> bucket_counts[std::size(kBuckets) + 1] = {};
  std::atomic<uint64_t> latency_sum_us{0};
  std::atomic<uint64_t> latency_count{0};
  void Observe(int64_t duration_ms);
};

class DeliveryEngine {
 public:
  using AttemptObserver =
      std::function<void(const store::DeliveryTask&, const store::AttemptOutcome&)>;

  DeliveryEngine(store::QueueStore& store, HttpSender& sender, const RetryPolicy& policy,
                 const Clock& clock, EngineOptions options);
  ~DeliveryEngine();

  void Start();
  // Stops leasing, lets sends in progress finish and record, and returns work leased but not
  // started to the queue.
  void Stop();
  // New work may be due (after ingest, resend, recover, or a clock change in tests).
  void Wake();
  // Called after every recorded attempt (tests wait on it; no sleeps).
  void SetObserver(AttemptObserver observer) { observer_ = std::move(observer); }

  const EngineMetrics& metrics() const { return metrics_; }
  // Prometheus text for /metrics: counters, latency histogram, queue depth, oldest pending age.
  std::string PrometheusText();

 private:
  void DispatchLoop();
  // Starts sends for runnable tasks while slots are free; `ask_when_idle`: wake the dispatcher
  // if a slot stays free for want of tasks.
  void StartSends(bool ask_when_idle);
  void Send(store::DeliveryTask task);
  // On the sender's thread when a send is over: decide, record, start the next.
  void Sent(const std::shared_ptr<store::DeliveryTask>& context, SendResult& sent);
  // Runs on the store's writer thread once an attempt is durable (or failed to be).
  void Recorded(const store::DeliveryTask& task, const store::AttemptOutcome& outcome,
                store::RecordResult result);
  store::AttemptOutcome Decide(const store::DeliveryTask& task, SendResult& sent);
  bool TakeRunnable(store::DeliveryTask& out);
  // The dispatcher leases more only when this few leased tasks are left waiting.
  size_t LowWater() const { return static_cast<size_t>(options_.workers); }
  // An endpoint holding more than this (sending + waiting) gets no more until it drains to it.
  size_t RefillAt() const { return static_cast<size_t>(options_.per_endpoint_concurrency) * 3 / 2; }
  // Attempts are recorded without waiting, but not without bound: while this many are sending
  // or awaiting their commit nothing new starts, and the engine runs at the pace the store takes.
  bool HeldByRecords() const { return pending_records_ + sending_ >= 4 * options_.workers; }

  store::QueueStore& store_;
  HttpSender& sender_;
  const RetryPolicy& policy_;
  const Clock& clock_;
  EngineOptions options_;
  AttemptObserver observer_;
  EngineMetrics metrics_;

  std::mutex mu_;
  std::condition_variable dispatch_cv_;  // wakes the dispatcher
  std::condition_variable idle_cv_;      // Stop waits on it: nothing sending or being recorded
  bool running_ = false;
  bool wake_ = false;
  bool drained_ = false;  // a send ended that opened room (a subset of wake_'s reasons)
  // Per webhook: tasks leased and waiting, and how many are being sent now.
  struct Endpoint {
    std::string team;
    std::deque<store::DeliveryTask> waiting;
    int active = 0;
    int rate = 0;  // the webhook's rate limit (requests a second), 0 for none
    size_t held() const { return static_cast<size_t>(active) + waiting.size(); }  // sending+waiting
  };
  std::map<std::string, Endpoint> endpoints_;
  std::map<std::string, int> team_active_;  // requests in flight by team
  int PerTeam() const {
    return options_.per_team_concurrency > 0 ? options_.per_team_concurrency
                                             : std::max(1, options_.workers * 3 / 4);
  }
  bool TeamHasSlot(const std::string& team) const {
    const auto it = team_active_.find(team);
    return it == team_active_.end() || it->second < PerTeam();
  }
  size_t waiting_total_ = 0;
  // Webhooks with a rate limit: the engine-clock time (ms) before which the next request to
  // each may not start. Kept when its endpoint drains, so a pause does not reset the pace.
  std::map<std::string, double> next_send_at_;
  // The earliest time a paced endpoint with waiting tasks may send (0: none waits for its pace).
  int64_t NextPacedSend() const;
  std::set<std::string> at_cap_;  // endpoints whose backlog was full at the last lease
  bool nothing_due_ = false;      // the last lease found nothing due, and nothing was queued since
  // With every endpoint it holds at its cap, a lease can only find other webhooks' work, and
  // one that found none is not tried again before this (real time: a throttle on queries).
  std::chrono::steady_clock::time_point next_discovery_{};

  int sending_ = 0;          // requests handed to the sender and not finished
  int pending_records_ = 0;  // attempts handed to the store, not yet committed

  std::thread dispatcher_;
};

}  // namespace mambo::delivery
