#include "delivery/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <sstream>

#include "crypto/crypto.h"
#include "delivery/signature.h"
#include "mambo/catalog.h"
#include "mambo/text.h"
#include "mambo/validation.h"
#include "util/thread.h"

namespace mambo::delivery {

void EngineMetrics::Observe(int64_t duration_ms) {
  const double seconds = static_cast<double>(duration_ms) / 1000.0;
  size_t i = 0;
  while (i < std::size(kBuckets) && seconds > kBuckets[i]) ++i;
  bucket_counts[i].fetch_add(1);
  latency_sum_us.fetch_add(static_cast<uint64_t>(std::max<int64_t>(duration_ms, 0)) * 1000);
  latency_count.fetch_add(1);
}

DeliveryEngine::DeliveryEngine(store::QueueStore& store, HttpSender& sender,
                               const RetryPolicy& policy, const Clock& clock, EngineOptions options)
    : store_(store),
      sender_(sender),
      policy_(policy),
      clock_(clock),
      options_(std::move(options)) {}

DeliveryEngine::~DeliveryEngine() {
  Stop();
}

void DeliveryEngine::Start() {
  std::lock_guard lock(mu_);
  if (running_) return;
  running_ = true;
  dispatcher_ = std::thread([this] { DispatchLoop(); });
}

void DeliveryEngine::Stop() {
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
  }
  dispatch_cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  {
    // Sends in progress finish (the sender's timeouts bound them) and their attempts, still
    // being committed, call back into this engine: wait for both.
    std::unique_lock lock(mu_);
    idle_cv_.wait(lock, [this] { return sending_ == 0 && pending_records_ == 0; });
  }
  // Leased but never started: back to the queue now rather than when the lease expires.
  std::vector<store::LeaseRef> unstarted;
  for (auto& [id, endpoint] : endpoints_) {
    for (const auto& task : endpoint.waiting) {
      unstarted.push_back({task.delivery.id, task.lease_id});
    }
  }
  endpoints_.clear();
  waiting_total_ = 0;
  try {
    store_.ReleaseLeases(unstarted);
  } catch (const std::exception& e) {
    spdlog::error("could not release {} leased deliveries: {} (their leases will expire)",
                  unstarted.size(), e.what());
  }
  if (!unstarted.empty())
    spdlog::info("returned {} leased deliveries to the queue", unstarted.size());
}

void DeliveryEngine::Wake() {
  std::lock_guard lock(mu_);
  // Ingest calls this for every event: one wake-up per dispatcher round is enough.
  nothing_due_ = false;
  if (!wake_) {
    wake_ = true;
    dispatch_cv_.notify_one();
  }
}

void DeliveryEngine::DispatchLoop() {
  if (const std::string error = SetUpThread("dispatcher", options_.nice); !error.empty()) {
    spdlog::debug("could not lower the priority of the dispatcher: {}", error);
  }
  // Leased tasks wait in memory up to this many; the dispatcher tops up at LowWater().
  const size_t high_water = static_cast<size_t>(options_.workers) * 4;
  std::unique_lock lock(mu_);
  while (running_) {
    wake_ = false;
    drained_ = false;
    const int64_t now = clock_.NowMs();
    // Each endpoint may hold at most 2 x its concurrency (sending + waiting): what it can send
    // well within a lease, however slow it is. Tasks waiting behind an endpoint at its cap do
    // not count against the backlog the others get: a hung endpoint must not starve them.
    const size_t per_endpoint = 2 * static_cast<size_t>(options_.per_endpoint_concurrency);
    // And each team at most 2 x its concurrency over all its endpoints.
    const size_t per_team = 2 * static_cast<size_t>(PerTeam());
    store::Store::LeaseRoom room;
    room.default_room = per_endpoint;
    room.default_team_room = per_team;
    std::vector<std::string> full;
    std::map<std::string, size_t> team_held;
    size_t runnable = 0;
    at_cap_.clear();
    // An endpoint gets more only once it has drained to its refill mark (as Sent wakes us),
    // not one or two at a time: a lease costs a round trip and an index scan however few rows
    // it takes. (In delivery_bench the lease count did not drop: there leases are sized by
    // what ingest has just added.) The mark is below the cap, so past it is closed.
    const size_t refill_at = RefillAt();
    for (const auto& [id, endpoint] : endpoints_) {
      const size_t held = endpoint.held();
      const bool closed = held > refill_at;
      // A rate-limited endpoint holds no more than it sends in half a lease.
      size_t cap = per_endpoint;
      if (endpoint.rate > 0) {
        cap = std::min(cap, std::max<size_t>(1, static_cast<size_t>(endpoint.rate) *
                                                    static_cast<size_t>(options_.lease_ms) / 2000));
      }
      room.room[id] = closed || held >= cap ? 0 : cap - held;
      team_held[endpoint.team] += held;
      if (closed) {
        full.push_back(id);
        at_cap_.insert(id);
      }
      // Tasks behind an endpoint or a team at its cap cannot start: they must not keep the
      // others from getting a backlog.
      if (endpoint.active < options_.per_endpoint_concurrency && TeamHasSlot(endpoint.team)) {
        runnable += endpoint.waiting.size();
      }
    }
    for (const auto& [team, held] : team_held) {
      room.team_room[team] = held >= per_team ? 0 : per_team - held;
    }
    size_t capacity = runnable <= LowWater() ? high_water - std::min(high_water, runnable) : 0;
    // Every endpoint held is at its cap: only webhooks this instance holds nothing of can have
    // work to take, and the lease has to read past all the closed ones' backlogs to learn that
    // (in delivery_bench on PostgreSQL, such leases came at every ingest's wake-up, found
    // nothing, and cost 6 ms of the database each). After one that found nothing, the next
    // waits a little, however many wake-ups come: new work of another webhook starts at most
    // kDiscoveryPause late, and work of these endpoints is leased when they drain (Sent).
    constexpr auto kDiscoveryPause = std::chrono::milliseconds(20);
    const bool only_others = !endpoints_.empty() && full.size() == endpoints_.size();
    const auto steady_now = std::chrono::steady_clock::now();
    const bool paused = only_others && steady_now < next_discovery_;
    if (paused) capacity = 0;
    lock.unlock();
    std::vector<store::DeliveryTask> leased;
    int64_t next_due = 0;
    try {
      if (capacity > 0) leased = store_.LeaseDue(now, capacity, now + options_.lease_ms, room);
      // Only when nothing was due: a lease cut short by the endpoints' room says nothing about
      // when the next delivery is due, and a retry scheduled meanwhile wakes us (Recorded).
      if (leased.empty() && !paused) next_due = store_.NextDueAt(full);
    } catch (const std::exception& e) {
      spdlog::error("delivery queue unavailable: {}", e.what());
    }
    lock.lock();
    for (auto& task : leased) {
      Endpoint& endpoint = endpoints_[task.delivery.webhook_id];
      endpoint.team = task.delivery.team_id;
      endpoint.rate = task.rate_limit_per_second.value_or(0);
      endpoint.waiting.push_back(std::move(task));
      ++waiting_total_;
    }
    // Endpoints this lease filled up: their draining is what makes room for more.
    for (const auto& [id, endpoint] : endpoints_) {
      if (endpoint.held() > refill_at) {
        at_cap_.insert(id);
      }
    }
    // Free send slots need not ask again until something new is queued (Wake) or room opens.
    nothing_due_ = capacity > 0 && leased.empty();
    if (only_others && capacity > 0 && leased.empty())
      next_discovery_ = steady_now + kDiscoveryPause;
    if (!leased.empty()) {
      lock.unlock();
      StartSends(/*ask_when_idle=*/false);
      lock.lock();
    }
    if (capacity > 0 && leased.size() == capacity) continue;  // more may be due right now
    int64_t wait_ms = options_.max_idle_wait_ms;
    if (next_due > now) wait_ms = std::min(wait_ms, next_due - now);
    // Rate-limited webhooks: the dispatcher starts their next request when its time comes
    // (nothing else may happen meanwhile to start it).
    if (int64_t paced = NextPacedSend(); paced > 0) {
      if (paced <= clock_.NowMs()) {
        lock.unlock();
        StartSends(/*ask_when_idle=*/false);
        lock.lock();
        paced = NextPacedSend();
      }
      if (paced > 0) wait_ms = std::min(wait_ms, std::max<int64_t>(1, paced - clock_.NowMs()));
    }
    if (paused) {
      // Wake-ups change nothing until the pause ends or an endpoint drains (Sent wakes us).
      dispatch_cv_.wait_until(lock, next_discovery_, [&] { return drained_ || !running_; });
      continue;
    }
    dispatch_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                          [&] { return wake_ || !running_; });
  }
}

int64_t DeliveryEngine::NextPacedSend() const {
  double earliest = 0;
  for (const auto& [id, endpoint] : endpoints_) {
    if (endpoint.rate <= 0 || endpoint.waiting.empty() ||
        endpoint.active >= options_.per_endpoint_concurrency) {
      continue;
    }
    const auto next = next_send_at_.find(id);
    const double at = next == next_send_at_.end() ? 1 : std::max(1.0, next->second);
    if (earliest == 0 || at < earliest) earliest = at;
  }
  return static_cast<int64_t>(std::ceil(earliest));
}

bool DeliveryEngine::TakeRunnable(store::DeliveryTask& out) {
  // Oldest-first would need a heap across endpoints; endpoints are few and each queue is
  // short (bounded by the dispatcher), so a scan is cheap and fair enough.
  const double now = static_cast<double>(clock_.NowMs());
  for (auto& [id, endpoint] : endpoints_) {
    if (!endpoint.waiting.empty() && endpoint.active < options_.per_endpoint_concurrency &&
        TeamHasSlot(endpoint.team)) {
      if (endpoint.rate > 0) {
        // Paced: one request every 1/rate seconds at most, however many wait.
        double& next = next_send_at_[id];
        if (now < next) continue;
        next = std::max(next, now) + 1000.0 / endpoint.rate;
      }
      out = std::move(endpoint.waiting.front());
      endpoint.waiting.pop_front();
      ++endpoint.active;
      ++team_active_[endpoint.team];
      --waiting_total_;
      return true;
    }
  }
  return false;
}

void DeliveryEngine::StartSends(bool ask_when_idle) {
  std::vector<store::DeliveryTask> batch;
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    store::DeliveryTask task;
    while (sending_ < options_.workers && !HeldByRecords() && TakeRunnable(task)) {
      ++sending_;
      batch.push_back(std::move(task));
    }
    // A free slot and nothing to put in it: ask for more. (Low water alone is not enough:
    // tasks waiting behind endpoints at their cap can keep the backlog above it while slots
    // are free.)
    if (ask_when_idle && batch.empty() && sending_ < options_.workers && !wake_ && !nothing_due_) {
      wake_ = true;
      dispatch_cv_.notify_one();
    }
  }
  for (auto& task : batch) Send(std::move(task));
}

void DeliveryEngine::Send(store::DeliveryTask task) {
  std::string body = DeliveryBody(task.event, task.data_json);
  const int64_t unix_seconds = clock_.NowMs() / 1000;
  Headers headers;
  if (task.secrets.empty()) {
    // Unsigned, but receivers still get the id and time to dedupe and order by.
    headers = {{"webhook-id", task.event.id}, {"webhook-timestamp", std::to_string(unix_seconds)}};
  } else {
    headers = SignedHeaders(task.secrets, task.event.id, unix_seconds, body);
  }
  // The webhook's own headers after ours; validation keeps their names apart from ours.
  headers.insert(headers.end(), task.headers.begin(), task.headers.end());
  metrics_.in_progress.fetch_add(1);
  auto context = std::make_shared<store::DeliveryTask>(std::move(task));
  const std::string& url = context->url;
  sender_.PostAsync(url, std::move(headers), std::move(body),
                    [this, context](SendResult sent) { Sent(context, sent); });
}

void DeliveryEngine::Sent(const std::shared_ptr<store::DeliveryTask>& context, SendResult& sent) {
  metrics_.in_progress.fetch_sub(1);
  // The attempt is stored and shown as sent, except for the custom headers' values, which may
  // be credentials.
  for (auto& [name, value] : sent.attempt.request_headers) {
    for (const auto& custom : context->headers) {
      if (name == custom.first) value = kMaskedHeaderValue;
    }
  }
  store::AttemptOutcome outcome = Decide(*context, sent);
  const std::string& webhook_id = context->delivery.webhook_id;
  {
    std::lock_guard lock(mu_);
    ++pending_records_;
    --sending_;
    auto it = endpoints_.find(webhook_id);
    bool endpoint_drained = false;
    if (auto team = team_active_.find(context->delivery.team_id);
        team != team_active_.end() && --team->second <= 0) {
      team_active_.erase(team);
    }
    if (it != endpoints_.end()) {
      --it->second.active;
      endpoint_drained = it->second.held() <= RefillAt();
      if (it->second.held() == 0) endpoints_.erase(it);
    }
    // Each wake-up is a context switch, and in a VM those dominate the cost of a delivery:
    // the dispatcher only when the backlog ran low (or this endpoint, left out of the last lease
    // for a full backlog, has half drained it).
    const bool room_opened =
        waiting_total_ <= LowWater() || (endpoint_drained && at_cap_.count(webhook_id) > 0);
    if (room_opened && (!wake_ || !drained_)) {
      wake_ = true;
      drained_ = true;
      dispatch_cv_.notify_one();
    }
  }
  // Recorded without waiting: sending goes on while the store group-commits. Until the commit
  // the delivery stays leased, so a crash in between means one more send, not a lost one.
  try {
    store_.RecordAttemptAsync(std::move(outcome), [this, context](const store::AttemptOutcome& o,
                                                                  store::RecordResult result) {
      Recorded(*context, o, result);
    });
  } catch (const std::exception&) {  // the store is closing
    // Logs ids and the attempt number, which a move keeps.
    Recorded(*context, outcome, store::RecordResult::kFailed);
  }
  StartSends(/*ask_when_idle=*/true);
}

void DeliveryEngine::Recorded(const store::DeliveryTask& task, const store::AttemptOutcome& outcome,
                              store::RecordResult result) {
  if (result == store::RecordResult::kFailed) {
    // The lease will expire and the delivery will be tried again: at least once still holds.
    spdlog::error("could not record attempt {} of delivery {}", outcome.attempt.number,
                  task.delivery.id);
  } else if (result == store::RecordResult::kLeaseLost) {
    // Sent after the lease ran out (this process was paused, or cut off from the database),
    // and another process may have sent it since: its record stands, not this one.
    metrics_.lease_lost.fetch_add(1);
    spdlog::warn(
        "attempt {} of delivery {} not recorded: its lease (id {}) expired before the attempt "
        "ended, and the delivery was leased again",
        outcome.attempt.number, task.delivery.id, task.lease_id);
  } else {
    metrics_.Observe(outcome.attempt.duration_ms);
    switch (outcome.status) {
      case DeliveryStatus::kSucceeded:
        metrics_.succeeded.fetch_add(1);
        break;
      case DeliveryStatus::kExhausted:
        metrics_.exhausted.fetch_add(1);
        spdlog::warn(
            "delivery {} of event {} to webhook {} exhausted its retries after {} attempts",
            task.delivery.id, task.event.id, task.delivery.webhook_id, outcome.attempt.number);
        break;
      default:
        metrics_.failed.fetch_add(1);
        break;
    }
    if (outcome.disable_reason) {
      spdlog::warn("webhook {} disabled: {}", task.delivery.webhook_id, *outcome.disable_reason);
    }
    // The retry is due soon, perhaps before the dispatcher means to look again.
    if (outcome.status == DeliveryStatus::kFailed) Wake();
    if (observer_) observer_(task, outcome);
  }
  bool resume;
  {
    std::lock_guard lock(mu_);
    // Only StartSends raises pending + sending (a finished send moves one from sending to
    // pending), so if it is at the bound now, StartSends stopped there.
    resume = HeldByRecords() && running_;
    --pending_records_;
    if (sending_ == 0 && pending_records_ == 0) idle_cv_.notify_all();
  }
  if (resume) StartSends(/*ask_when_idle=*/false);  // sends held back for the store's pace
}

store::AttemptOutcome DeliveryEngine::Decide(const store::DeliveryTask& task, SendResult& sent) {
  store::AttemptOutcome o;
  o.attempt = std::move(sent.attempt);
  o.lease_id = task.lease_id;
  const int64_t now = o.attempt.started_at + o.attempt.duration_ms;
  o.attempt.id = crypto::NewId("att", now);
  o.attempt.delivery_id = task.delivery.id;
  o.attempt.number = task.delivery.attempt_count + 1;
  if (o.attempt.cause == FailureCause::kNone) {
    o.status = DeliveryStatus::kSucceeded;
    return o;
  }
  if (o.attempt.http_status == 410) {
    o.status = DeliveryStatus::kExhausted;
    o.disable_reason = "The endpoint answered 410 Gone at " + FormatTimestamp(now) +
                       "; webhook disabled. Re-enable it once the endpoint exists again.";
    return o;
  }
  std::optional<int64_t> retry_after;
  if (auto value = HeaderValue(o.attempt.response_headers, "Retry-After")) {
    retry_after = ParseRetryAfter(*value, now);
  }
  if (auto next = policy_.NextAttemptAt(o.attempt.number, now, retry_after)) {
    o.status = DeliveryStatus::kFailed;
    o.next_attempt_at = *next;
  } else {
    o.status = DeliveryStatus::kExhausted;
  }
  return o;
}

std::string DeliveryEngine::PrometheusText() {
  std::ostringstream out;
  out << "# HELP mambo_deliveries_total Delivery attempts by outcome since start.\n"
      << "# TYPE mambo_deliveries_total counter\n"
      << "mambo_deliveries_total{outcome=\"succeeded\"} " << metrics_.succeeded.load() << "\n"
      << "mambo_deliveries_total{outcome=\"failed\"} " << metrics_.failed.load() << "\n"
      << "mambo_deliveries_total{outcome=\"exhausted\"} " << metrics_.exhausted.load() << "\n"
      << "# HELP mambo_delivery_leases_lost_total Attempts not recorded because their lease had "
         "expired and the delivery was leased again.\n"
      << "# TYPE mambo_delivery_leases_lost_total counter\n"
      << "mambo_delivery_leases_lost_total " << metrics_.lease_lost.load() << "\n";
  out << "# HELP mambo_delivery_attempt_duration_seconds Duration of delivery attempts.\n"
      << "# TYPE mambo_delivery_attempt_duration_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < std::size(EngineMetrics::kBuckets); ++i) {
    cumulative += metrics_.bucket_counts[i].load();
    out << "mambo_delivery_attempt_duration_seconds_bucket{le=\"" << EngineMetrics::kBuckets[i]
        << "\"} " << cumulative << "\n";
  }
  cumulative += metrics_.bucket_counts[std::size(EngineMetrics::kBuckets)].load();
  out << "mambo_delivery_attempt_duration_seconds_bucket{le=\"+Inf\"} " << cumulative << "\n"
      << "mambo_delivery_attempt_duration_seconds_sum "
      << static_cast<double>(metrics_.latency_sum_us.load()) / 1e6 << "\n"
      << "mambo_delivery_attempt_duration_seconds_count " << metrics_.latency_count.load() << "\n";
  const store::QueueStats stats = store_.Stats();
  const int64_t now = clock_.NowMs();
  const double oldest_age = stats.oldest_due_at > 0 && stats.oldest_due_at < now
                                ? (now - stats.oldest_due_at) / 1000.0
                                : 0;
  out << "# HELP mambo_delivery_queue_depth Deliveries waiting to be sent (pending or retrying).\n"
      << "# TYPE mambo_delivery_queue_depth gauge\n"
      << "mambo_delivery_queue_depth " << stats.pending << "\n"
      << "# HELP mambo_delivery_in_flight Deliveries leased and being sent.\n"
      << "# TYPE mambo_delivery_in_flight gauge\n"
      << "mambo_delivery_in_flight " << stats.in_flight << "\n"
      << "# HELP mambo_delivery_oldest_pending_age_seconds How long the most overdue delivery has "
         "been due.\n"
      << "# TYPE mambo_delivery_oldest_pending_age_seconds gauge\n"
      << "mambo_delivery_oldest_pending_age_seconds " << oldest_age << "\n";
  // The engine's own state: what a stalled queue is waiting for.
  int sending, records;
  size_t waiting, endpoints, teams;
  {
    std::lock_guard lock(mu_);
    sending = sending_;
    records = pending_records_;
    waiting = waiting_total_;
    endpoints = endpoints_.size();
    teams = team_active_.size();
  }
  out << "# HELP mambo_engine_sending Requests handed to the sender and not finished.\n"
      << "# TYPE mambo_engine_sending gauge\nmambo_engine_sending " << sending << "\n"
      << "# HELP mambo_engine_awaiting_record Attempts sent and not yet committed.\n"
      << "# TYPE mambo_engine_awaiting_record gauge\nmambo_engine_awaiting_record " << records
      << "\n# HELP mambo_engine_leased_waiting Leased deliveries waiting in memory for a slot.\n"
      << "# TYPE mambo_engine_leased_waiting gauge\nmambo_engine_leased_waiting " << waiting
      << "\n# HELP mambo_engine_endpoints Webhooks with deliveries leased by this process.\n"
      << "# TYPE mambo_engine_endpoints gauge\nmambo_engine_endpoints " << endpoints
      << "\n# HELP mambo_engine_teams_sending Teams with requests in flight.\n"
      << "# TYPE mambo_engine_teams_sending gauge\nmambo_engine_teams_sending " << teams << "\n";
  return out.str();
}

}  // namespace mambo::delivery
