#pragma once
// The persistence interfaces webhookd's API and delivery engine talk to, one per role:
//   ConfigStore   teams' API tokens, webhooks and the audit log (small, read often)
//   QueueStore    ingest (events fanned out into deliveries) and the delivery queue (leases,
//                 attempts) -- the hot path
//   HistoryStore  deliveries and attempts as recorded, auto-disable candidates, retention
// and Store, all three plus health. Each backend (SQLite: sqlite_store.h) implements Store; a
// component takes the roles it uses. Every team-scoped call takes the team id: an object of
// another team is simply "not found". Secrets cross these interfaces in plaintext;
// implementations encrypt them at rest.

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "attempt_stats.h"
#include "mambo/models.h"

namespace mambo::store {

// A store operation failed: a bug, a broken disk or a database that cannot be reached, never
// user input (that is validated before it reaches the store).
struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// admin: everything. viewer: every read but revealing secrets and header values; no change,
// no ingest. ingest: only posting events (and reading the catalog).
enum class Role { kAdmin, kViewer, kIngest };
std::string_view ToString(Role role);
std::optional<Role> ParseRole(std::string_view text);

struct ApiToken {
  std::string id;
  std::string team_id;
  Role role = Role::kAdmin;
  int64_t created_at = 0;
  std::optional<int64_t> revoked_at;
  std::string description;              // what it is for, as its creator said
  std::optional<int64_t> expires_at;    // refused from then on
  std::optional<int64_t> last_used_at;  // to the minute (TouchToken)
  bool Expired(int64_t now) const { return expires_at && *expires_at <= now; }
};

// Who changed what. `before`/`after` are the public JSON of the object (never a secret).
struct AuditEntry {
  std::string id;
  std::string team_id;
  std::string actor;  // token id, or "system" for the delivery engine
  int64_t at = 0;
  std::string action;  // "webhook.create", "webhook.update", "webhook.secret_reveal", ...
  std::string target_id;
  Json before;  // null when there was nothing before
  Json after;   // null when there is nothing after
};
void to_json(Json& j, const AuditEntry& a);

// What a new token is besides its team, role and hash. `audit`: written in the same
// transaction with the new token's id as its target (tokens made through the API; the CLI's
// are not audited).
struct TokenDetails {
  std::string description;
  std::optional<int64_t> expires_at;
  std::optional<AuditEntry> audit;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::optional<std::string> next_cursor;  // opaque; absent on the last page
};

struct IngestResult {
  bool created = false;  // false: the event id was seen before, nothing new was queued
  Event event;
  std::vector<std::string> delivery_ids;
};

struct DeliveryFilter {
  std::optional<DeliveryStatus> status;
  std::optional<std::string> event_type;
  // With an attempt started in [attempted_since, attempted_until) (Unix ms): one hour of the
  // statistics. Both or neither.
  std::optional<int64_t> attempted_since;
  std::optional<int64_t> attempted_until;
};

// The team's event log: by type, and ingested in [since, until) (Unix ms).
struct EventFilter {
  std::optional<std::string> type;
  std::optional<int64_t> since;
  std::optional<int64_t> until;
};

// One event with its delivery to every webhook it went to.
struct EventRecord {
  Event event;
  std::vector<Delivery> deliveries;  // oldest first, without attempts
};

// One unit of work for the delivery engine: the delivery, its event, and the webhook's target
// as it was when leased.
struct DeliveryTask {
  Delivery delivery;
  Event event;            // without data: see data_json
  std::string data_json;  // the event's data as stored (JSON text), sent as is
  std::string url;
  std::vector<std::string> secrets;  // signing secrets: current first, then a rotated-out one
  Headers headers;                   // the webhook's custom headers, values in plaintext
  bool webhook_active = true;
  std::optional<int> rate_limit_per_second;  // the webhook's, when it has one
  // New at every lease of the delivery: its attempt is recorded only while this lease holds
  // (fencing: a process that lost the lease, paused or cut off past its expiry, records nothing
  // over the attempt of the process that took the delivery after it).
  int64_t lease_id = 0;
};

// A lease to give back: the delivery and the lease it was taken under.
struct LeaseRef {
  std::string delivery_id;
  int64_t lease_id = 0;
};

// What the engine decided after an attempt; stored atomically with the attempt.
struct AttemptOutcome {
  DeliveryAttempt attempt;
  DeliveryStatus status = DeliveryStatus::kFailed;  // succeeded, failed (retry later), exhausted
  int64_t next_attempt_at = 0;                      // for failed
  std::optional<std::string> disable_reason;        // set: deactivate the webhook (410 Gone)
  int64_t lease_id = 0;                             // DeliveryTask::lease_id
};

enum class RecordResult {
  kRecorded,
  kLeaseLost,  // the delivery is no longer in flight under this lease: nothing was written
  kFailed,     // the store failed (the lease expires and the delivery goes out again)
};

struct QueueStats {
  int64_t pending = 0;        // pending + failed-awaiting-retry
  int64_t in_flight = 0;      // leased
  int64_t oldest_due_at = 0;  // next_attempt_at of the oldest due delivery, 0 when none
  int64_t failed = 0;         // of pending: tried before, waiting for a retry
};

class ConfigStore {
 public:
  virtual ~ConfigStore() = default;

  // --- Teams and API tokens (tokens are stored as SHA-256 hashes only) ---
  virtual ApiToken CreateToken(const std::string& team_id, Role role, const std::string& hash,
                               int64_t now, const TokenDetails& details) = 0;
  ApiToken CreateToken(const std::string& team_id, Role role, const std::string& hash,
                       int64_t now) {
    return CreateToken(team_id, role, hash, now, TokenDetails{});
  }
  // Not revoked (expired ones too: the caller tells the client why it is refused).
  virtual std::optional<ApiToken> FindActiveToken(const std::string& hash) = 0;
  virtual std::vector<ApiToken> ListTokens(const std::optional<std::string>& team_id) = 0;
  // Any team's token (the CLI, which holds the server's keys).
  virtual bool RevokeToken(const std::string& token_id, int64_t now) = 0;
  // A team's token, through the API: refused (kLastAdmin, nothing written) when it is the
  // team's last admin token that is neither revoked nor expired, so a team can always manage
  // itself. The audit entry goes in the same transaction.
  enum class RevokeResult { kRevoked, kNotFound, kLastAdmin };
  virtual RevokeResult RevokeTeamToken(const std::string& team_id, const std::string& token_id,
                                       const AuditEntry& audit) = 0;
  // Notes that the token was used at `now` (the API calls it at most once a minute a token);
  // changes no stamp: cached lookups stay valid.
  virtual void TouchToken(const std::string& token_id, int64_t now) = 0;
  // Changes whenever a token is created or revoked, by this process or another one (the token
  // CLI), and is cheap to ask for every request: callers may cache token lookups while it stays
  // the same.
  virtual std::string TokensStamp() = 0;

  // --- Webhooks; each mutation writes its audit entry in the same transaction ---
  // False (and nothing written) when the team already has `max_per_team` webhooks; counted in
  // the same transaction, so concurrent creates cannot pass the bound together.
  virtual bool CreateWebhook(const Webhook& webhook, const AuditEntry& audit,
                             size_t max_per_team = SIZE_MAX) = 0;
  // With its current secret (plaintext): callers decide what to reveal.
  virtual std::optional<Webhook> GetWebhook(const std::string& team_id, const std::string& id) = 0;
  // Listed webhooks carry no secret value: `secret` is an empty string when one is set.
  virtual Page<Webhook> ListWebhooks(const std::string& team_id, size_t limit,
                                     const std::string& cursor) = 0;
  // Replaces the stored row with `webhook` (including its secret). A changed secret keeps no
  // grace period (the previous secrets are dropped too); use RotateSecret for that. Switching
  // `active` on starts the auto-disable window again (FailingWebhooks).
  virtual bool UpdateWebhook(const Webhook& webhook, bool secret_changed,
                             const AuditEntry& audit) = 0;
  virtual bool DeleteWebhook(const std::string& team_id, const std::string& id,
                             const AuditEntry& audit) = 0;
  // New current secret. The current one joins the previous secrets, which all keep signing,
  // each until its own expiry (`old_valid_until` for this one): a second rotation within a
  // grace period does not cut off the first. Previous secrets expired at `audit.at` are dropped;
  // with kMaxPreviousSecrets still signing nothing is written (kTooMany).
  struct Rotation {
    enum class Status { kRotated, kNotFound, kTooMany } status = Status::kNotFound;
    std::vector<int64_t> previous_valid_until;  // every previous secret's expiry, latest first
    explicit operator bool() const { return status == Status::kRotated; }
  };
  static constexpr size_t kMaxPreviousSecrets = 10;
  virtual Rotation RotateSecret(const std::string& team_id, const std::string& id,
                                const std::string& new_secret, int64_t old_valid_until,
                                const AuditEntry& audit) = 0;
  virtual void AppendAudit(const AuditEntry& audit) = 0;
  virtual Page<AuditEntry> ListAudit(const std::string& team_id, size_t limit,
                                     const std::string& cursor) = 0;
  // Deactivates a webhook with a reason the team sees (auto-disable); false when not found.
  virtual bool DisableWebhook(const std::string& team_id, const std::string& id,
                              const std::string& reason, const AuditEntry& audit) = 0;
};

class QueueStore {
 public:
  virtual ~QueueStore() = default;

  // --- Events: stored durably, fanned out into one pending delivery per active subscribed
  // webhook of the team, in one transaction. A repeated (team, id) returns the first answer.
  virtual IngestResult IngestEvent(const Event& event, int64_t now) = 0;
  // Stores `event` with one pending delivery to each of `webhook_ids`, exactly those (the
  // operational notices, which never go to the webhook they are about). A repeated (team, id)
  // queues nothing and answers created = false: a notice made twice is sent once.
  virtual IngestResult QueueToWebhooks(const Event& event,
                                       const std::vector<std::string>& webhook_ids,
                                       int64_t now) = 0;
  // Queues one delivery of `event` (which is stored too) to one webhook only (test events).
  virtual std::string QueueSingleDelivery(const Event& event, const std::string& webhook_id,
                                          int64_t now) = 0;

  // --- Delivery queue ---
  // How many deliveries of each webhook one lease may hand out: `room` for the webhooks it
  // names (0: none), `default_room` for the others. The engine sizes it so that no endpoint's
  // backlog outgrows what it can send within a lease.
  // The same by team (team_room, default_team_room): a team whose endpoints all hang gets no
  // more than its share of the engine's backlog.
  struct LeaseRoom {
    std::map<std::string, size_t, std::less<>> room;
    size_t default_room = std::numeric_limits<size_t>::max();
    std::map<std::string, size_t, std::less<>> team_room;
    size_t default_team_room = std::numeric_limits<size_t>::max();
    // What a lease may take of a webhook's (a team's) due deliveries.
    size_t For(std::string_view webhook_id) const {
      const auto r = room.find(webhook_id);
      return r != room.end() ? r->second : default_room;
    }
    size_t ForTeam(std::string_view team_id) const {
      const auto r = team_room.find(team_id);
      return r != team_room.end() ? r->second : default_team_room;
    }
  };
  // Leases up to `limit` due deliveries (pending, or failed with next_attempt_at <= now, or
  // in flight with an expired lease) until `lease_until`, oldest due first within each
  // webhook's room. Deliveries of inactive webhooks wait (except test events): they go out if
  // the webhook is enabled again.
  virtual std::vector<DeliveryTask> LeaseDue(int64_t now, size_t limit, int64_t lease_until,
                                             const LeaseRoom& room) = 0;
  // Records the attempt and the delivery's new state, if the outcome's lease still holds
  // (kLeaseLost and nothing written otherwise); throws StoreError when the store fails.
  virtual RecordResult RecordAttempt(const AttemptOutcome& outcome) = 0;
  // Same, without waiting: `done` runs (on a store thread) once it is durable, fenced or has
  // failed. The engine uses it so sending goes on while attempts are group-committed; a crash
  // before the commit leaves the delivery leased, and it is sent again: at least once holds.
  // `done` gets the outcome back, so the caller needs no copy of it.
  virtual void RecordAttemptAsync(
      AttemptOutcome outcome,
      std::function<void(const AttemptOutcome& outcome, RecordResult result)> done) = 0;
  // Returns leased (in-flight) deliveries to the queue, due now (graceful stop); a lease that
  // no longer holds is left alone.
  virtual void ReleaseLeases(const std::vector<LeaseRef>& leases) = 0;
  // Earliest next_attempt_at among waiting deliveries (0 when none): when to wake up.
  virtual int64_t NextDueAt(const std::vector<std::string>& exclude) = 0;

  // Cancels a delivery that waits to be sent (pending, or failed with a retry scheduled): it is
  // never sent again, unless a resend asks for it. One being sent right now is left alone.
  enum class CancelResult { kCancelled, kNotFound, kInFlight, kAlreadyFinal };
  virtual CancelResult CancelDelivery(const std::string& team_id, const std::string& id,
                                      int64_t now) = 0;
  // Cancels every waiting delivery of a webhook (those in flight finish); returns how many.
  virtual int64_t CancelPending(const std::string& team_id, const std::string& webhook_id,
                                int64_t now) = 0;
  // Makes the delivery due now again (any final state); false when not found.
  virtual bool ResendDelivery(const std::string& team_id, const std::string& id, int64_t now) = 0;
  // Re-queues failed/exhausted deliveries of a webhook created at or after `since`.
  virtual int64_t RecoverDeliveries(const std::string& team_id, const std::string& webhook_id,
                                    int64_t since, int64_t now) = 0;
  virtual QueueStats Stats() = 0;
  // Puts deliveries whose lease expired by `now` back in the queue, due now (their holder died
  // or stalled; LeaseDue takes them anyway, this keeps Stats true). Returns how many.
  virtual int64_t ReclaimExpiredLeases(int64_t now) = 0;
};

class HistoryStore {
 public:
  virtual ~HistoryStore() = default;

  virtual Page<Delivery> ListDeliveries(const std::string& team_id, const std::string& webhook_id,
                                        const DeliveryFilter& filter, size_t limit,
                                        const std::string& cursor) = 0;
  virtual std::optional<Delivery> GetDelivery(const std::string& team_id,
                                              const std::string& id) = 0;  // with attempts
  // The team's events, newest first, without their data (a page may hold 200 of 256 KiB).
  virtual Page<Event> ListEvents(const std::string& team_id, const EventFilter& filter,
                                 size_t limit, const std::string& cursor) = 0;
  // One event with its data and deliveries; nullopt when the team has no such event.
  virtual std::optional<EventRecord> GetEvent(const std::string& team_id,
                                              const std::string& id) = 0;
  // Auto-disable candidates: active webhooks with no success since `since` (nor ever, when
  // created before it) and a delivery that exhausted its retries after the last success. A
  // webhook switched on again counts from then: what failed before does not disable it again.
  // Without secret values, as in ListWebhooks.
  virtual std::vector<Webhook> FailingWebhooks(int64_t since) = 0;
  // Webhooks an operational notice is due for (Notices): active ones failing since before
  // `failing_before` not yet announced (kFailing, `since` = the start of the failing spell),
  // those webhookd disabled (with a disabled_reason) not yet announced (kDisabled, `since` =
  // when), and those announced failing or disabled with a success since (kRecovered, `since`
  // = the announcement, `at` = the success). Without secret values.
  struct NoticeCandidate {
    enum class Kind { kFailing, kDisabled, kRecovered } kind = Kind::kFailing;
    Webhook webhook;
    int64_t since = 0;
    int64_t at = 0;
  };
  virtual std::vector<NoticeCandidate> NoticeCandidates(int64_t failing_before) = 0;
  // What was last announced about a webhook: "failing", "disabled", or nothing (recovered).
  virtual void SetNoticeState(const std::string& webhook_id,
                              const std::optional<std::string>& state, int64_t at) = 0;
  // Statistics (attempt_stats.h): the hours from `since` on with attempts, oldest first, of
  // each of `webhook_ids` that is the team's (the others are left out).
  virtual StatsByWebhook AttemptStats(const std::string& team_id,
                                      const std::vector<std::string>& webhook_ids,
                                      int64_t since) = 0;
  // The newest delivery of each of `webhook_ids` that is the team's and has one (the list's
  // "last delivery"), without attempts.
  virtual std::map<std::string, Delivery, std::less<>> LastDeliveries(
      const std::string& team_id, const std::vector<std::string>& webhook_ids) = 0;
  // Drops the statistics of hours before `before` (kStatsKeepMs; retention leaves them alone).
  virtual void PruneStats(int64_t before) = 0;
  // Retention: deletes up to `limit` deliveries that ended (succeeded, exhausted, cancelled) before
  // `before`, with their attempts, then the events ingested before `before` that have no
  // delivery left (up to `limit` too). Deliveries still waiting are kept however old. Returns
  // the larger of the two counts: `limit` means more may be left.
  virtual int64_t PruneBefore(int64_t before, size_t limit) = 0;
};

// Periodic jobs (retention, auto-disable) run in one process at a time across all those sharing
// the store: RunExclusive runs `fn` if no other holds `job` now, else returns false at once.
class JobLocks {
 public:
  virtual ~JobLocks() = default;
  virtual bool RunExclusive(std::string_view job, const std::function<void()>& fn) = 0;
};

// The roles a webhookd uses, all from one backend.
struct StoreRoles {
  ConfigStore& config;
  QueueStore& queue;
  HistoryStore& history;
};

class Store : public ConfigStore, public QueueStore, public HistoryStore {
 public:
  // The write path since start, for /metrics: writes per commit is what group commit buys.
  struct WriteStats {
    uint64_t commits = 0;  // transactions committed (one fsync each)
    uint64_t writes = 0;   // writes they carried
    uint64_t queued = 0;   // writes waiting for the writer now
    // At the last checkpoint (every 250 ms): frames in the write-ahead log, and how many of
    // them are in the database file. The log restarts from its beginning once all are.
    int64_t wal_frames = 0;
    int64_t wal_checkpointed = 0;
  };
  virtual WriteStats WriteStatistics() = 0;
  virtual bool Healthy() = 0;
};

}  // namespace mambo::store
