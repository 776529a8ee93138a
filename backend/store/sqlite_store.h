#pragma once
// SQLite implementation of Store: one file in the data dir, WAL, foreign keys, versioned
// migrations applied at open.
//
// Writes go through one writer thread that runs every queued write of the moment in a single
// transaction (one savepoint each, so a failing write rolls back alone) and commits once with
// synchronous=FULL: group commit. Callers block until their write is durable. Throughput under
// load is set by how many writes share an fsync, not by SQL (measured on this project's 2-core
// hosts: ~2,000 single commits/s against ~58,000 rows/s in batches of 100). Reads use a pool of
// read-only connections, which WAL lets run alongside the writer.
//
// One class implements the three roles of store.h, since they share the writer, its
// transactions and the subscriber cache; its source is split the same way: sqlite_store.cpp
// (schema, writer, reads), sqlite_config.cpp, sqlite_queue.cpp, sqlite_history.cpp.

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "crypto/crypto.h"
#include "store/sql_common.h"
#include "store/sqlite_db.h"
#include "store/store.h"

namespace mambo::store {

class SqliteStore final : public Store {
 public:
  struct Options {
    // How often the checkpointer copies the write-ahead log into the database file.
    int checkpoint_every_ms = 250;
    // Past this many pages in the log (16 MB of 4 KB pages) the writer finishes a checkpoint
    // itself after a commit, so that the next transaction starts the log over.
    int64_t wal_restart_frames = 4096;
  };
  // Opens (creating when needed) `<data_dir>/webhookd.db` and migrates it.
  SqliteStore(const std::string& data_dir, crypto::SecretBox box, Options options);
  SqliteStore(const std::string& data_dir, crypto::SecretBox box)
      : SqliteStore(data_dir, std::move(box), Options{}) {}
  ~SqliteStore() override;

  using ConfigStore::CreateToken;
  ApiToken CreateToken(const std::string& team_id, Role role, const std::string& hash, int64_t now,
                       const TokenDetails& details) override;
  std::optional<ApiToken> FindActiveToken(const std::string& hash) override;
  std::vector<ApiToken> ListTokens(const std::optional<std::string>& team_id) override;
  bool RevokeToken(const std::string& token_id, int64_t now) override;
  RevokeResult RevokeTeamToken(const std::string& team_id, const std::string& token_id,
                               const AuditEntry& audit) override;
  void TouchToken(const std::string& token_id, int64_t now) override;
  std::string TokensStamp() override;

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
  Page<Delivery> ListDeliveries(const std::string& team_id, const std::string& webhook_id,
                                const DeliveryFilter& filter, size_t limit,
                                const std::string& cursor) override;
  std::optional<Delivery> GetDelivery(const std::string& team_id, const std::string& id) override;
  Page<Event> ListEvents(const std::string& team_id, const EventFilter& filter, size_t limit,
                         const std::string& cursor) override;
  std::optional<EventRecord> GetEvent(const std::string& team_id, const std::string& id) override;
  CancelResult CancelDelivery(const std::string& team_id, const std::string& id,
                              int64_t now) override;
  int64_t CancelPending(const std::string& team_id, const std::string& webhook_id,
                        int64_t now) override;
  bool ResendDelivery(const std::string& team_id, const std::string& id, int64_t now) override;
  int64_t RecoverDeliveries(const std::string& team_id, const std::string& webhook_id,
                            int64_t since, int64_t now) override;
  QueueStats Stats() override;
  WriteStats WriteStatistics() override;
  std::vector<Webhook> FailingWebhooks(int64_t since) override;
  bool DisableWebhook(const std::string& team_id, const std::string& id, const std::string& reason,
                      const AuditEntry& audit) override;
  std::vector<NoticeCandidate> NoticeCandidates(int64_t failing_before) override;
  void SetNoticeState(const std::string& webhook_id, const std::optional<std::string>& state,
                      int64_t at) override;
  int64_t PruneBefore(int64_t before, size_t limit) override;
  StatsByWebhook AttemptStats(const std::string& team_id,
                              const std::vector<std::string>& webhook_ids, int64_t since) override;
  void PruneStats(int64_t before) override;
  std::map<std::string, Delivery, std::less<>> LastDeliveries(
      const std::string& team_id, const std::vector<std::string>& webhook_ids) override;
  int64_t ReclaimExpiredLeases(int64_t now) override;
  // Makes every leased delivery due now. Only for a process that owns the queue alone (webhookd
  // holds the data dir's lock): leases found at start belong to a process that died.
  int64_t ReclaimAllLeases(int64_t now);
  bool Healthy() override;

  // Writes queued but not yet committed, and commits done: for tests and metrics.
  uint64_t commits() const { return commits_.load(); }

 private:
  // Leases that end by `expired_by` back in the queue, due `now`.
  int64_t ReclaimLeasesUntil(int64_t expired_by, int64_t now);
  struct WriteJob {
    std::function<void(Db&)> fn;
    std::promise<void> done;                       // for Write: the caller waits on it
    std::function<void(std::exception_ptr)> then;  // for WriteAsync: called after the commit
    bool before_commit = false;                    // `done` is set once fn ran (kBeforeCommit)
  };
  enum class Durability {
    kCommitted,     // Write returns once the transaction holding fn is on disk
    kBeforeCommit,  // Write returns once fn ran; its commit may still fail (or a crash lose it)
  };
  // Runs `fn` on the writer connection inside a group-committed transaction; returns once it is
  // durable (or ran, see Durability), rethrowing what `fn` threw.
  void Write(std::function<void(Db&)> fn, Durability durability = Durability::kCommitted);
  // Queues `fn` like Write but returns at once; `then` runs on the writer thread once the batch
  // is durable (null) or failed (the error).
  void WriteAsync(std::function<void(Db&)> fn, std::function<void(std::exception_ptr)> then);
  struct HeaderTexts {
    std::string request, response;  // the attempt's headers as JSON
  };
  static HeaderTexts SerializeHeaders(const AttemptOutcome& outcome);
  // False, and nothing written, when the outcome's lease no longer holds.
  bool RecordAttemptIn(Db& db, const AttemptOutcome& outcome, const HeaderTexts& headers);
  void WriterLoop();
  void CheckpointLoop();
  // Runs `fn` on a read-only connection from the pool (WAL lets it read beside the writer).
  template <typename F>
  auto Read(F&& fn) {
    struct Lease {
      SqliteStore* self;
      std::unique_ptr<Db> db;
      ~Lease() { self->GiveBackReader(std::move(db)); }
    } lease{this, TakeReader()};
    return fn(*lease.db);
  }
  std::unique_ptr<Db> TakeReader();
  void GiveBackReader(std::unique_ptr<Db> db);

  void CheckMainKey(Db& db);
  void EnsureTeam(Db& db, const std::string& team_id, int64_t now);
  void InsertAudit(Db& db, const AuditEntry& audit);
  Webhook LoadWebhookRow(Query& q, sql::SecretLoad secret);
  std::optional<std::string> OpenSecret(const std::optional<std::string>& sealed,
                                        const std::string& webhook_id);
  Delivery LoadDeliveryRow(Query& q);
  std::vector<std::string> InsertDeliveries(Db& db, const Event& event, int64_t event_seq,
                                            const std::vector<std::string>& webhook_ids,
                                            int64_t now);
  // Inserts the event unless its id is known for the team; its seq, or 0 when it was known.
  int64_t InsertEvent(Db& db, const Event& event, const std::string& data);

  // The active webhooks of a team and the event types they take, for fan-out at ingest without
  // parsing every webhook's events JSON per event. Owned by the writer thread; emptied whenever
  // the writer connection changes a webhooks row (update hook) and after any rollback.
  struct Subscriber {
    std::string webhook_id;
    std::vector<std::string> events;
  };
  const std::vector<Subscriber>& Subscribers(Db& db, const std::string& team_id);
  static void OnWriterRowChange(void* self, int op, const char* db, const char* table,
                                sqlite3_int64 rowid);
  std::unordered_map<std::string, std::vector<Subscriber>> subscribers_;

  // One lease's room, as the lease query sees it through lease_has_room(webhook_id): the rows
  // of a webhook that has taken its room are passed over inside SQLite, before the joins that
  // load their event and webhook. Writer thread only; set for the duration of LeaseDue.
  struct LeaseScan {
    const LeaseRoom* room = nullptr;
    std::map<std::string, size_t, std::less<>> taken;       // by webhook id
    std::map<std::string, size_t, std::less<>> team_taken;  // by team id
    int64_t budget = 0;  // rows of filled webhooks or teams the query may still pass over
    size_t Taken(std::string_view webhook_id) const;  // rows taken so far
    size_t TeamTaken(std::string_view team_id) const;
  };
  // lease_has_room(webhook_id) and lease_team_has_room(team_id): the first is answered from
  // the queue index alone; the second reads the row, so it comes second.
  static void LeaseHasRoom(sqlite3_context* ctx, int argc, sqlite3_value** argv);
  static void LeaseTeamHasRoom(sqlite3_context* ctx, int argc, sqlite3_value** argv);
  LeaseScan* lease_scan_ = nullptr;
  int64_t next_lease_id_ = 1;  // writer thread only; from the highest stored at open

  // DATA_DIR/tokens.changed, replaced (a new inode, a new mtime) after every token change.
  bool MarkTokensChanged();  // false (errno set) if the file could not be replaced
  std::string tokens_marker_;
  std::string path_;
  crypto::SecretBox box_;

  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::deque<WriteJob> write_queue_;
  bool stopping_ = false;
  std::unique_ptr<Db> writer_db_;
  std::thread writer_;
  std::thread checkpointer_;
  std::condition_variable checkpoint_cv_;  // only for stopping the checkpointer promptly
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> committed_writes_{0};
  const Options options_;
  std::atomic<bool> restart_wanted_{false};  // set by the checkpointer, taken by the writer
  std::atomic<int64_t> wal_frames_{0};
  std::atomic<int64_t> wal_checkpointed_{0};

  std::mutex read_mu_;
  std::vector<std::unique_ptr<Db>> read_pool_;
};

}  // namespace mambo::store
