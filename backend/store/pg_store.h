#pragma once
// The PostgreSQL store, for several webhookd instances sharing one database (`--database
// postgresql://...`). PgDatabase owns the connection pool, applies the schema migrations under
// an advisory lock (instances starting together migrate once) and checks the main key; each
// role of store.h is a class over it:
//   PgConfigStore   tokens, webhooks, audit (pg_config.cpp)
//   PgQueueStore    ingest and the delivery queue: leases taken with FOR UPDATE SKIP LOCKED,
//                   fenced by lease id, attempts group-committed by a recorder thread
//                   (pg_queue.cpp)
//   PgHistoryStore  recorded deliveries, auto-disable candidates, retention (pg_history.cpp)

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "crypto/crypto.h"
#include "store/pg_db.h"
#include "store/store.h"

namespace mambo::store {

// LISTEN on a connection of its own: runs each channel's callbacks (on its thread) when a
// notification arrives, and all of them every `tick` as a safety net (a notification sent while
// this connection was down is lost). Reconnects after the server went away, and then runs every
// callback at once: something may have changed meanwhile.
class PgListener {
 public:
  PgListener(std::string uri, std::chrono::milliseconds tick) : uri_(std::move(uri)), tick_(tick) {}
  ~PgListener();
  void On(std::string channel, std::function<void()> fn);  // before Start
  void Start();

 private:
  void Loop();
  void RunAll();
  const std::string uri_;
  const std::chrono::milliseconds tick_;
  std::vector<std::pair<std::string, std::function<void()>>> callbacks_;
  std::atomic<bool> stop_{false};
  int wake_fd_ = -1;
  std::thread thread_;
};

class PgDatabase {
 public:
  struct Options {
    size_t pool_size = 16;
  };
  // Connects, migrates (under pg_advisory_lock, so concurrent starts are safe) and checks that
  // `box` holds the main key the database's secrets were sealed with: throws StoreError with a
  // message for the operator otherwise.
  PgDatabase(const std::string& uri, crypto::SecretBox box, Options options);
  PgDatabase(const std::string& uri, crypto::SecretBox box)
      : PgDatabase(uri, std::move(box), Options{}) {}

  pg::Pool& pool() { return pool_; }
  const crypto::SecretBox& box() const { return box_; }
  // The schema version this build migrates to.
  static int64_t SchemaVersion();
  // Whether the database answers now (readiness).
  bool Healthy();

 private:
  void Migrate(pg::Conn& c);
  void CheckMainKey(pg::Conn& c);
  pg::Pool pool_;
  crypto::SecretBox box_;
};

// Periodic jobs one instance at a time: a session-level pg_try_advisory_lock per job name, held
// on one pooled connection while the job runs (released with the connection if the instance
// dies).
class PgJobLocks final : public JobLocks {
 public:
  explicit PgJobLocks(PgDatabase& db) : db_(db) {}
  bool RunExclusive(std::string_view job, const std::function<void()>& fn) override;

 private:
  PgDatabase& db_;
};

class PgConfigStore final : public ConfigStore {
 public:
  explicit PgConfigStore(PgDatabase& db) : db_(db) {}

  using ConfigStore::CreateToken;
  ApiToken CreateToken(const std::string& team_id, Role role, const std::string& hash, int64_t now,
                       const TokenDetails& details) override;
  std::optional<ApiToken> FindActiveToken(const std::string& hash) override;
  std::vector<ApiToken> ListTokens(const std::optional<std::string>& team_id) override;
  bool RevokeToken(const std::string& token_id, int64_t now) override;
  RevokeResult RevokeTeamToken(const std::string& team_id, const std::string& token_id,
                               const AuditEntry& audit) override;
  void TouchToken(const std::string& token_id, int64_t now) override;
  // Cached: refreshed when another instance (or the CLI) says tokens changed (NOTIFY
  // mambo_tokens, through PgListener) and at least every tick, so a revocation anywhere counts
  // within a second without a query per request.
  std::string TokensStamp() override;
  void RefreshTokensStamp();
  // From now on TokensStamp answers from the cache; a PgListener must call RefreshTokensStamp.
  void CacheTokensStamp() { cache_stamp_ = true; }
  bool CreateWebhook(const Webhook& webhook, const AuditEntry& audit,
                     size_t max_per_team = SIZE_MAX) override;
  std::optional<Webhook> GetWebhook(const std::string& team_id, const std::string& id) override;
  Page<Webhook> ListWebhooks(const std::string& team_id, size_t limit,
                             const std::string& cursor) override;
  bool UpdateWebhook(const Webhook& webhook, bool secret_changed, const AuditEntry& audit) override;
  bool DeleteWebhook(const std::string& team_id, const std::string& id,
                     const AuditEntry& audit) override;
  Rotation RotateSecret(const std::string& team_id, const std::string& id,
                        const std::string& new_secret, int64_t old_valid_until,
                        const AuditEntry& audit) override;
  void AppendAudit(const AuditEntry& audit) override;
  Page<AuditEntry> ListAudit(const std::string& team_id, size_t limit,
                             const std::string& cursor) override;
  bool DisableWebhook(const std::string& team_id, const std::string& id, const std::string& reason,
                      const AuditEntry& audit) override;

 private:
  std::optional<std::string> Seal(const Webhook& w) const;
  std::string ReadTokensStamp();  // from the database into the cache; throws StoreError
  PgDatabase& db_;
  std::mutex stamp_mu_;
  std::string stamp_;  // empty: not read yet
  std::atomic<bool> cache_stamp_{false};
};

class PgQueueStore final : public QueueStore {
 public:
  // `owner` names this instance in the leases it takes (for operators: who holds what).
  PgQueueStore(PgDatabase& db, std::string owner);
  ~PgQueueStore() override;

  IngestResult IngestEvent(const Event& event, int64_t now) override;
  IngestResult QueueToWebhooks(const Event& event, const std::vector<std::string>& webhook_ids,
                               int64_t now) override;
  std::string QueueSingleDelivery(const Event& event, const std::string& webhook_id,
                                  int64_t now) override;
  std::vector<DeliveryTask> LeaseDue(int64_t now, size_t limit, int64_t lease_until,
                                     const LeaseRoom& room) override;
  RecordResult RecordAttempt(const AttemptOutcome& outcome) override;
  void RecordAttemptAsync(
      AttemptOutcome outcome,
      std::function<void(const AttemptOutcome& outcome, RecordResult result)> done) override;
  void ReleaseLeases(const std::vector<LeaseRef>& leases) override;
  int64_t NextDueAt(const std::vector<std::string>& exclude) override;
  CancelResult CancelDelivery(const std::string& team_id, const std::string& id,
                              int64_t now) override;
  int64_t CancelPending(const std::string& team_id, const std::string& webhook_id,
                        int64_t now) override;
  bool ResendDelivery(const std::string& team_id, const std::string& id, int64_t now) override;
  int64_t RecoverDeliveries(const std::string& team_id, const std::string& webhook_id,
                            int64_t since, int64_t now) override;
  QueueStats Stats() override;
  int64_t ReclaimExpiredLeases(int64_t now) override;
  // Ingests queued for the next batch (not yet taken by one): for tests.
  size_t IngestsWaiting();

 private:
  struct Pending {
    AttemptOutcome outcome;
    std::function<void(const AttemptOutcome&, RecordResult)> done;
    // Set when the database was first found unreachable for it: tried again until then.
    std::optional<std::chrono::steady_clock::time_point> give_up{};
  };
  // For each outcome, whether it was recorded (false: its lease no longer holds; nothing of it
  // written).
  std::vector<bool> RecordBatch(pg::Conn& c, const std::vector<const AttemptOutcome*>& batch);
  void Disable(pg::Conn& c, const AttemptOutcome& o);
  // Ingest's group commit (see IngestEvent): callers queue here; up to two of them at a time
  // lead a batch for all queued.
  struct IngestWaiter;
  void IngestBatch(const std::vector<IngestWaiter*>& batch);
  std::mutex ingest_mu_;
  std::condition_variable ingest_cv_;
  std::deque<IngestWaiter*> ingest_queue_;
  int ingest_leaders_ = 0;
  // Tells the other instances' engines that work is due (NOTIFY mambo_queue), once committed, at
  // most once per few milliseconds from this instance: a burst of ingests wakes them once.
  void NotifyAfterCommit(int64_t now);
  bool NotifySlot(int64_t now);  // whether this instance may notify at `now` (and takes the slot)
  std::atomic<int64_t> last_notify_{0};
  std::mutex notify_mu_;
  std::unique_ptr<pg::Conn> notify_conn_;
  // Leases go through a connection of their own (the engine's dispatcher is their only caller),
  // set to commit without waiting for the disk.
  std::mutex lease_mu_;
  std::unique_ptr<pg::Conn> lease_conn_;
  void RecorderLoop();

  PgDatabase& db_;
  const std::string owner_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  bool stopping_ = false;
  std::thread recorder_;
};

class PgHistoryStore final : public HistoryStore {
 public:
  explicit PgHistoryStore(PgDatabase& db) : db_(db) {}

  Page<Delivery> ListDeliveries(const std::string& team_id, const std::string& webhook_id,
                                const DeliveryFilter& filter, size_t limit,
                                const std::string& cursor) override;
  std::optional<Delivery> GetDelivery(const std::string& team_id, const std::string& id) override;
  Page<Event> ListEvents(const std::string& team_id, const EventFilter& filter, size_t limit,
                         const std::string& cursor) override;
  std::optional<EventRecord> GetEvent(const std::string& team_id, const std::string& id) override;
  std::vector<Webhook> FailingWebhooks(int64_t since) override;
  std::vector<NoticeCandidate> NoticeCandidates(int64_t failing_before) override;
  void SetNoticeState(const std::string& webhook_id, const std::optional<std::string>& state,
                      int64_t at) override;
  int64_t PruneBefore(int64_t before, size_t limit) override;
  StatsByWebhook AttemptStats(const std::string& team_id,
                              const std::vector<std::string>& webhook_ids, int64_t since) override;
  void PruneStats(int64_t before) override;
  std::map<std::string, Delivery, std::less<>> LastDeliveries(
      const std::string& team_id, const std::vector<std::string>& webhook_ids) override;

 private:
  PgDatabase& db_;
};

}  // namespace mambo::store
