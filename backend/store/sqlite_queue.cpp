// SqliteStore, ingest and queue role: events, fan-out, leases, attempts (store.h: QueueStore).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "store/sql_common.h"
#include "store/sqlite_store.h"

namespace mambo::store {

using namespace sql;

// ---------------------------------------------------------------- events and fan-out

int64_t SqliteStore::InsertEvent(Db& db, const Event& e, const std::string& data) {
  Query q(db,
          "INSERT INTO events(id, team_id, type, timestamp, data) VALUES (?,?,?,?,?) "
          "ON CONFLICT (team_id, id) DO NOTHING");
  q.Bind(1, e.id).Bind(2, e.team_id).Bind(3, e.type).Bind(4, e.timestamp).Bind(5, data).Run();
  return q.Changes() > 0 ? sqlite3_last_insert_rowid(db.raw()) : 0;
}

std::vector<std::string> SqliteStore::InsertDeliveries(Db& db, const Event& event,
                                                       int64_t event_seq,
                                                       const std::vector<std::string>& webhook_ids,
                                                       int64_t now) {
  std::vector<std::string> ids;
  ids.reserve(webhook_ids.size());
  for (const auto& webhook_id : webhook_ids) {
    std::string id = crypto::NewId("dlv", now);
    Query(db,
          "INSERT INTO deliveries(id, webhook_id, team_id, event_seq, status, due_at, created_at, "
          "updated_at) VALUES (?,?,?,?,'pending',?,?,?)")
        .Bind(1, id)
        .Bind(2, webhook_id)
        .Bind(3, event.team_id)
        .Bind(4, event_seq)
        .Bind(5, now)
        .Bind(6, now)
        .Bind(7, now)
        .Run();
    ids.push_back(std::move(id));
  }
  return ids;
}

const std::vector<SqliteStore::Subscriber>& SqliteStore::Subscribers(Db& db,
                                                                     const std::string& team_id) {
  auto it = subscribers_.find(team_id);
  if (it != subscribers_.end()) return it->second;
  std::vector<Subscriber> subs;
  Query q(db, "SELECT id, events FROM webhooks WHERE team_id = ? AND active = 1 ORDER BY seq");
  q.Bind(1, team_id);
  while (q.Step()) {
    subs.push_back(Subscriber{q.Text(0), EventTypes(q.Text(1))});
  }
  return subscribers_.emplace(team_id, std::move(subs)).first->second;
}

void SqliteStore::OnWriterRowChange(void* self, int /*op*/, const char* /*db*/, const char* table,
                                    sqlite3_int64 /*rowid*/) {
  if (std::strcmp(table, "webhooks") == 0) static_cast<SqliteStore*>(self)->subscribers_.clear();
}

IngestResult SqliteStore::IngestEvent(const Event& event, int64_t now) {
  // Serialised here, not in the writer: the writer is the one thread every write waits for.
  const std::string data = DumpJson(event.data);
  IngestResult result;
  Write([&](Db& db) {
    result = IngestResult{};
    EnsureTeam(db, event.team_id, now);
    const int64_t seq = InsertEvent(db, event, data);
    if (seq == 0) {  // the id was seen before: answer as the first time
      Query q(db,
              "SELECT seq, id, team_id, type, timestamp, data FROM events "
              "WHERE team_id = ? AND id = ?");
      q.Bind(1, event.team_id).Bind(2, event.id);
      if (!q.Step()) throw StoreError("event " + event.id + " vanished during ingest");
      result.event = Event{q.Text(1), q.Text(3), q.Text(2), q.Int(4),
                           ParseJson(q.Text(5)).value_or(Json::object())};
      Query d(db, "SELECT id FROM deliveries WHERE event_seq = ? ORDER BY seq");
      d.Bind(1, q.Int(0));
      while (d.Step()) result.delivery_ids.push_back(d.Text(0));
      return;
    }
    std::vector<std::string> targets;
    for (const Subscriber& s : Subscribers(db, event.team_id)) {
      if (std::find(s.events.begin(), s.events.end(), event.type) != s.events.end()) {
        targets.push_back(s.webhook_id);
      }
    }
    result.created = true;
    result.delivery_ids = InsertDeliveries(db, event, seq, targets, now);
  });
  if (result.created) result.event = event;
  return result;
}

IngestResult SqliteStore::QueueToWebhooks(const Event& event,
                                          const std::vector<std::string>& webhook_ids,
                                          int64_t now) {
  const std::string data = DumpJson(event.data);
  IngestResult result;
  result.event = event;
  Write([&](Db& db) {
    EnsureTeam(db, event.team_id, now);
    const int64_t seq = InsertEvent(db, event, data);
    if (seq == 0) return;  // made before: queued then
    result.created = true;
    if (!webhook_ids.empty())
      result.delivery_ids = InsertDeliveries(db, event, seq, webhook_ids, now);
  });
  return result;
}

std::string SqliteStore::QueueSingleDelivery(const Event& event, const std::string& webhook_id,
                                             int64_t now) {
  const std::string data = DumpJson(event.data);
  std::string id;
  Write([&](Db& db) {
    EnsureTeam(db, event.team_id, now);
    const int64_t seq = InsertEvent(db, event, data);
    if (seq == 0) throw StoreError("event id " + event.id + " already exists");
    id = InsertDeliveries(db, event, seq, {webhook_id}, now).front();
  });
  return id;
}

// ---------------------------------------------------------------- delivery queue

size_t SqliteStore::LeaseScan::Taken(std::string_view webhook_id) const {
  const auto t = taken.find(webhook_id);
  return t != taken.end() ? t->second : 0;
}

size_t SqliteStore::LeaseScan::TeamTaken(std::string_view team_id) const {
  const auto t = team_taken.find(team_id);
  return t != team_taken.end() ? t->second : 0;
}

namespace {

// The text of an SQL function's only argument.
std::string_view TextArg(sqlite3_value** argv) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
  return std::string_view(text ? text : "", static_cast<size_t>(sqlite3_value_bytes(argv[0])));
}

// Whether the lease may take a row of a webhook (or team) that had `allowed` rows of room when
// the lease began and has taken `taken` of them.
int HasRoom(size_t allowed, size_t taken, int64_t& budget) {
  // Out of room from the start (a hung endpoint, a team whose endpoints all hang): passed over
  // however long its backlog, so it never holds up the others.
  if (allowed == 0) return 0;
  if (taken < allowed) return 1;
  // Filled by this lease: passing over its backlog is bounded. Past the budget the row passes,
  // and LeaseDue, seeing a row without room, stops there.
  return --budget < 0 ? 1 : 0;
}

}  // namespace

void SqliteStore::LeaseHasRoom(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  LeaseScan* scan = static_cast<SqliteStore*>(sqlite3_user_data(ctx))->lease_scan_;
  if (scan == nullptr) return sqlite3_result_int(ctx, 1);
  // Called for every row the scan reaches, most of them passed over: one lookup in each map.
  const std::string_view webhook_id = TextArg(argv);
  sqlite3_result_int(ctx,
                     HasRoom(scan->room->For(webhook_id), scan->Taken(webhook_id), scan->budget));
}

void SqliteStore::LeaseTeamHasRoom(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  LeaseScan* scan = static_cast<SqliteStore*>(sqlite3_user_data(ctx))->lease_scan_;
  if (scan == nullptr) return sqlite3_result_int(ctx, 1);
  const std::string_view team_id = TextArg(argv);
  sqlite3_result_int(ctx,
                     HasRoom(scan->room->ForTeam(team_id), scan->TeamTaken(team_id), scan->budget));
}

std::vector<DeliveryTask> SqliteStore::LeaseDue(int64_t now, size_t limit, int64_t lease_until,
                                                const LeaseRoom& room) {
  std::vector<DeliveryTask> tasks;
  // A lease need not be durable before the sends start: lost in a crash (or a failed commit),
  // the deliveries are simply still due and go out again, which at-least-once allows. Not
  // waiting for the fsync keeps the sender fed under load.
  Write(
      [&](Db& db) {
        tasks.clear();
        // Rows of webhooks this lease fills are passed over; passing over no more than this
        // many keeps a lease cheap behind one webhook's long backlog (out of room in the next
        // lease, that webhook's rows are then passed over without counting).
        LeaseScan scan{&room, {}, {}, static_cast<int64_t>(std::min<size_t>(limit, 1 << 20)) * 4};
        lease_scan_ = &scan;
        struct Reset {
          LeaseScan*& scan;
          ~Reset() { scan = nullptr; }
        } reset{lease_scan_};
        // By webhook id: its secrets and its headers.
        std::unordered_map<std::string, std::pair<std::vector<std::string>, Headers>> sealed_parts;
        // SQLite evaluates lease_has_room() as it reaches each row (the index gives the order,
        // no sort), after the rows before it were taken below.
        Query q(db,
                "SELECT d.id, d.webhook_id, d.team_id, e.id, e.type, d.status, d.attempt_count, "
                "d.created_at, d.updated_at, d.last_http_status, d.last_cause, "
                "e.timestamp, e.data, w.url, w.secret_enc, w.prev_valid_until, "
                "w.active, d.seq, w.rate_limit_per_second, w.headers_enc FROM deliveries d "
                "JOIN events e ON e.seq = d.event_seq "
                "JOIN webhooks w ON w.id = d.webhook_id "
                "WHERE d.status IN ('pending', 'failed', 'in_flight') AND d.due_at <= ?1 "
                "AND lease_has_room(d.webhook_id) AND lease_team_has_room(d.team_id) "
                "AND (w.active = 1 OR e.type = 'webhook.test') "
                "ORDER BY d.due_at LIMIT ?2");
        q.Bind(1, now).Bind(2, static_cast<int64_t>(limit) + 1);
        std::vector<std::pair<int64_t, int64_t>> rows;  // (rowid, lease id) of those taken
        while (tasks.size() < limit && q.Step()) {
          std::string webhook_id = q.Text(1);
          const std::string team_id = q.Text(2);
          if (scan.Taken(webhook_id) >= scan.room->For(webhook_id) ||
              scan.TeamTaken(team_id) >= scan.room->ForTeam(team_id)) {
            if (scan.budget < 0) break;  // the budget is spent
            continue;                    // (only if SQLite ever sorted before filtering)
          }
          ++scan.taken[webhook_id];
          ++scan.team_taken[team_id];
          DeliveryTask t;
          Delivery& d = t.delivery;
          d.id = q.Text(0);
          d.webhook_id = std::move(webhook_id);
          d.team_id = q.Text(2);
          d.event_id = q.Text(3);
          d.event_type = q.Text(4);
          d.status = DeliveryStatus::kInFlight;
          d.attempt_count = static_cast<int>(q.Int(6));
          d.created_at = q.Int(7);
          d.updated_at = q.Int(8);
          t.event = Event{d.event_id, d.event_type, d.team_id, q.Int(11), nullptr};
          t.data_json = q.Text(12);
          t.url = q.Text(13);
          // An AES-GCM open per secret and for the headers: once per webhook and lease, not
          // per delivery.
          auto [cached, fresh] = sealed_parts.try_emplace(d.webhook_id);
          auto& [secrets, headers] = cached->second;
          if (fresh) {
            if (auto s = OpenSecret(q.OptText(14), d.webhook_id)) secrets.push_back(*s);
            if (q.OptInt(15).value_or(0) > now) {  // a rotated-out secret still signs
              Query prev(db,
                         "SELECT secret_enc FROM previous_secrets WHERE webhook_id = ? "
                         "AND valid_until > ? ORDER BY valid_until DESC");
              prev.Bind(1, d.webhook_id).Bind(2, now);
              while (prev.Step()) {
                if (auto s = OpenSecret(prev.OptText(0), d.webhook_id)) secrets.push_back(*s);
              }
            }
            headers = OpenHeaders(box_, q.OptText(19), d.webhook_id);
          }
          t.secrets = secrets;
          t.headers = headers;
          t.webhook_active = q.Int(16) != 0;
          if (const auto rate = q.OptInt(18)) t.rate_limit_per_second = static_cast<int>(*rate);
          t.lease_id = next_lease_id_++;
          rows.emplace_back(q.Int(17), t.lease_id);
          tasks.push_back(std::move(t));
        }
        for (const auto& [row, lease_id] : rows) {  // by rowid: no lookup in the id index
          Query(db,
                "UPDATE deliveries SET status = 'in_flight', due_at = ?, lease_id = ? "
                "WHERE seq = ?")
              .Bind(1, lease_until)
              .Bind(2, lease_id)
              .Bind(3, row)
              .Run();
        }
      },
      Durability::kBeforeCommit);
  return tasks;
}

RecordResult SqliteStore::RecordAttempt(const AttemptOutcome& o) {
  const HeaderTexts headers = SerializeHeaders(o);
  bool recorded = false;
  Write([&](Db& db) { recorded = RecordAttemptIn(db, o, headers); });
  return recorded ? RecordResult::kRecorded : RecordResult::kLeaseLost;
}

// Serialised by the caller: the writer thread is the one every write waits on.
SqliteStore::HeaderTexts SqliteStore::SerializeHeaders(const AttemptOutcome& o) {
  return {DumpJson(Json(o.attempt.request_headers)), DumpJson(Json(o.attempt.response_headers))};
}

void SqliteStore::RecordAttemptAsync(
    AttemptOutcome outcome, std::function<void(const AttemptOutcome&, RecordResult)> done) {
  auto shared = std::make_shared<const AttemptOutcome>(std::move(outcome));
  // Both callbacks run on the writer thread, the second after the first.
  auto recorded = std::make_shared<bool>(false);
  WriteAsync([this, shared, recorded, headers = SerializeHeaders(*shared)](
                 Db& db) { *recorded = RecordAttemptIn(db, *shared, headers); },
             [shared, recorded, done = std::move(done)](std::exception_ptr error) {
               done(*shared, error != nullptr ? RecordResult::kFailed
                             : *recorded      ? RecordResult::kRecorded
                                              : RecordResult::kLeaseLost);
             });
}

bool SqliteStore::RecordAttemptIn(Db& db, const AttemptOutcome& o, const HeaderTexts& headers) {
  {
    const DeliveryAttempt& a = o.attempt;
    const int64_t now = a.started_at + a.duration_ms;
    // The fence first: only the holder of the current lease moves the delivery on.
    Query update(db,
                 "UPDATE deliveries SET status = ?, attempt_count = ?, due_at = ?, updated_at = ?, "
                 "last_http_status = ?, last_cause = NULLIF(?, '') "
                 "WHERE id = ? AND status = 'in_flight' AND lease_id = ?");
    update.Bind(1, ToString(o.status))
        .Bind(2, a.number)
        .Bind(3, o.status == DeliveryStatus::kFailed ? o.next_attempt_at : now)
        .Bind(4, now)
        .Bind(5, a.http_status)
        .Bind(6, ToString(a.cause))
        .Bind(7, a.delivery_id)
        .Bind(8, o.lease_id)
        .Run();
    if (update.Changes() == 0) return false;
    Query(db,
          "INSERT INTO attempts(id, delivery_id, number, started_at, duration_ms, http_status, "
          "cause, error, request_headers, response_headers, response_excerpt, "
          "response_truncated, response_headers_truncated) "
          "VALUES (?,?,?,?,?,?,NULLIF(?, ''),?,?,?,?,?,?)")
        .Bind(1, a.id)
        .Bind(2, a.delivery_id)
        .Bind(3, a.number)
        .Bind(4, a.started_at)
        .Bind(5, a.duration_ms)
        .Bind(6, a.http_status)
        .Bind(7, ToString(a.cause))
        .Bind(8, a.error)
        .Bind(9, headers.request)
        .Bind(10, headers.response)
        .BindBlob(11, a.response_excerpt)
        .Bind(12, a.response_truncated)
        .Bind(13, a.response_headers_truncated)
        .Run();
    const bool succeeded = o.status == DeliveryStatus::kSucceeded;
    Query(db,
          "INSERT INTO attempt_stats(webhook_id, hour, bucket, succeeded, failed) "
          "SELECT webhook_id, ?, ?, ?, ? FROM deliveries WHERE id = ? "
          "ON CONFLICT(webhook_id, hour, bucket) DO UPDATE SET "
          "succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed")
        .Bind(1, HourStart(a.started_at))
        .Bind(2, static_cast<int64_t>(LatencyBucket(a.duration_ms)))
        .Bind(3, int64_t{succeeded ? 1 : 0})
        .Bind(4, int64_t{succeeded ? 0 : 1})
        .Bind(5, a.delivery_id)
        .Run();
    if (o.status == DeliveryStatus::kSucceeded) {
      // Only auto-disable reads it, in days: a minute's precision spares rewriting the webhook
      // row on every success.
      Query(db,
            "UPDATE webhooks SET last_success_at = ?1 WHERE id = "
            "(SELECT webhook_id FROM deliveries WHERE id = ?2) "
            "AND (last_success_at IS NULL OR last_success_at < ?1 - 60000)")
          .Bind(1, now)
          .Bind(2, a.delivery_id)
          .Run();
    }
    if (o.disable_reason) {
      Query q(db, "SELECT " MAMBO_WEBHOOK_COLUMNS
                  " FROM webhooks w "
                  "JOIN deliveries d ON d.webhook_id = w.id WHERE d.id = ?");
      q.Bind(1, a.delivery_id);
      if (q.Step()) {
        Webhook before = LoadWebhookRow(q, SecretLoad::kPresenceOnly);
        if (before.active) {
          Webhook after = before;
          after.active = false;
          after.disabled_reason = o.disable_reason;
          after.updated_at = now;
          Query(db,
                "UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ? WHERE id = ?")
              .Bind(1, *o.disable_reason)
              .Bind(2, now)
              .Bind(3, before.id)
              .Run();
          InsertAudit(db, AuditEntry{crypto::NewId("aud", now), before.team_id, "system", now,
                                     "webhook.disable", before.id, Json(before), Json(after)});
        }
      }
    }
  }
  return true;
}

void SqliteStore::ReleaseLeases(const std::vector<LeaseRef>& leases) {
  if (leases.empty()) return;
  Write([&](Db& db) {
    for (const LeaseRef& lease : leases) {
      // Back to due-now; attempt_count tells whether it had been tried before.
      Query(db, "UPDATE deliveries SET status = " MAMBO_REQUEUED_STATUS
                ", due_at = updated_at WHERE id = ? AND status = 'in_flight' AND lease_id = ?")
          .Bind(1, lease.delivery_id)
          .Bind(2, lease.lease_id)
          .Run();
    }
  });
}

int64_t SqliteStore::NextDueAt(const std::vector<std::string>& exclude) {
  const std::string excluded = DumpJson(Json(exclude));
  int64_t next = 0;
  // On the writer, not a reader: leases are answered before their commit, and the attempts
  // recorded in the same batch decide when the next retry is due. A reader would see the
  // leases' expiry instead and sleep past the retry.
  Write(
      [&](Db& db) {
        // ORDER BY ... LIMIT 1, not MIN(): walks the due index in order and stops at the first
        // row that qualifies, where MIN() with these joins read every queued and leased row
        // (~1 ms per call with a few hundred in flight, 14 % of the writer's time).
        Query q(db,
                "SELECT d.due_at FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id "
                "JOIN events e ON e.seq = d.event_seq "
                "WHERE d.status IN ('pending', 'failed', 'in_flight') "
                "AND (w.active = 1 OR e.type = 'webhook.test') "
                "AND d.webhook_id NOT IN (SELECT value FROM json_each(?)) "
                "ORDER BY d.due_at LIMIT 1");
        q.Bind(1, excluded);
        next = q.Step() && !q.IsNull(0) ? q.Int(0) : 0;
      },
      Durability::kBeforeCommit);
  return next;
}

QueueStore::CancelResult SqliteStore::CancelDelivery(const std::string& team_id,
                                                     const std::string& id, int64_t now) {
  CancelResult result = CancelResult::kNotFound;
  Write([&](Db& db) {
    Query q(db,
            "UPDATE deliveries SET status = 'cancelled', updated_at = ? "
            "WHERE id = ? AND team_id = ? AND status IN ('pending', 'failed')");
    q.Bind(1, now).Bind(2, id).Bind(3, team_id).Run();
    if (q.Changes() > 0) {
      result = CancelResult::kCancelled;
      return;
    }
    Query s(db, "SELECT status FROM deliveries WHERE id = ? AND team_id = ?");
    s.Bind(1, id).Bind(2, team_id);
    if (s.Step()) {
      result = s.Text(0) == "in_flight" ? CancelResult::kInFlight : CancelResult::kAlreadyFinal;
    }
  });
  return result;
}

int64_t SqliteStore::CancelPending(const std::string& team_id, const std::string& webhook_id,
                                   int64_t now) {
  int64_t count = 0;
  Write([&](Db& db) {
    Query q(db,
            "UPDATE deliveries SET status = 'cancelled', updated_at = ? "
            "WHERE webhook_id = ? AND team_id = ? AND status IN ('pending', 'failed')");
    q.Bind(1, now).Bind(2, webhook_id).Bind(3, team_id).Run();
    count = q.Changes();
  });
  return count;
}

bool SqliteStore::ResendDelivery(const std::string& team_id, const std::string& id, int64_t now) {
  bool changed = false;
  Write([&](Db& db) {
    // An in-flight delivery is being sent right now: leave it alone (its attempt is recorded).
    Query q(db, "UPDATE deliveries SET status = " MAMBO_REQUEUED_STATUS
                ", due_at = ?, updated_at = ? WHERE id = ? AND team_id = ? "
                "AND status != 'in_flight'");
    q.Bind(1, now).Bind(2, now).Bind(3, id).Bind(4, team_id).Run();
    changed = q.Changes() > 0;
  });
  return changed;
}

int64_t SqliteStore::RecoverDeliveries(const std::string& team_id, const std::string& webhook_id,
                                       int64_t since, int64_t now) {
  int64_t count = 0;
  Write([&](Db& db) {
    Query q(db,
            "UPDATE deliveries SET status = 'failed', due_at = ?, updated_at = ? "
            "WHERE webhook_id = ? AND team_id = ? AND created_at >= ? "
            "AND status IN ('failed', 'exhausted')");
    q.Bind(1, now).Bind(2, now).Bind(3, webhook_id).Bind(4, team_id).Bind(5, since).Run();
    count = q.Changes();
  });
  return count;
}

QueueStats SqliteStore::Stats() {
  return Read([&](Db& db) {
    QueueStats s;
    // Only the queue: the partial index deliveries_due holds exactly these rows, so a scrape
    // costs what is queued, not the whole delivery history.
    Query q(db,
            "SELECT status, COUNT(*), MIN(due_at) FROM deliveries INDEXED BY deliveries_due "
            "WHERE status IN ('pending', 'failed', 'in_flight') GROUP BY status");
    while (q.Step()) {
      const std::string status = q.Text(0);
      const int64_t n = q.Int(1);
      if (status == "pending" || status == "failed") {
        s.pending += n;
        const int64_t due = q.Int(2);
        if (s.oldest_due_at == 0 || due < s.oldest_due_at) s.oldest_due_at = due;
        if (status == "failed") s.failed = n;
      } else if (status == "in_flight") {
        s.in_flight = n;
      }
    }
    return s;
  });
}

int64_t SqliteStore::ReclaimAllLeases(int64_t now) {
  // Every lease ends by the end of time.
  return ReclaimLeasesUntil(std::numeric_limits<int64_t>::max(), now);
}

int64_t SqliteStore::ReclaimExpiredLeases(int64_t now) {
  return ReclaimLeasesUntil(now, now);
}

int64_t SqliteStore::ReclaimLeasesUntil(int64_t expired_by, int64_t now) {
  int64_t count = 0;
  Write([&](Db& db) {
    Query q(db, "UPDATE deliveries SET status = " MAMBO_REQUEUED_STATUS
                ", due_at = ? WHERE status = 'in_flight' AND due_at <= ?");
    q.Bind(1, now).Bind(2, expired_by).Run();
    count = q.Changes();
  });
  return count;
}

}  // namespace mambo::store
