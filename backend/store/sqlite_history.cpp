// SqliteStore, history role: deliveries and attempts as recorded, auto-disable candidates,
// retention (store.h: HistoryStore).
#include <spdlog/spdlog.h>

#include <algorithm>

#include "store/sql_common.h"
#include "store/sqlite_store.h"

namespace mambo::store {

using namespace sql;

Delivery SqliteStore::LoadDeliveryRow(Query& q) {
  Delivery d;
  d.id = q.Text(0);
  d.webhook_id = q.Text(1);
  d.team_id = q.Text(2);
  d.event_id = q.Text(3);
  d.event_type = q.Text(4);
  d.status = ParseDeliveryStatus(q.Text(5)).value_or(DeliveryStatus::kPending);
  d.attempt_count = static_cast<int>(q.Int(6));
  d.next_attempt_at =
      (d.status == DeliveryStatus::kPending || d.status == DeliveryStatus::kFailed) ? q.Int(7) : 0;
  d.created_at = q.Int(8);
  d.updated_at = q.Int(9);
  if (!q.IsNull(10)) d.last_http_status = static_cast<int>(q.Int(10));
  d.last_cause = Json(q.Text(11)).get<FailureCause>();
  return d;
}

Page<Delivery> SqliteStore::ListDeliveries(const std::string& team_id,
                                           const std::string& webhook_id,
                                           const DeliveryFilter& filter, size_t limit,
                                           const std::string& cursor) {
  // Newest first, which is what a person looking at history wants.
  return Read([&](Db& db) {
    Query q(db, "SELECT " MAMBO_DELIVERY_COLUMNS
                " FROM deliveries d "
                "JOIN events e ON e.seq = d.event_seq WHERE d.webhook_id = ?1 AND d.team_id = ?2 "
                "AND (?3 = 0 OR d.seq < ?3) AND (?4 IS NULL OR d.status = ?4) "
                "AND (?5 IS NULL OR e.type = ?5) "
                "AND (?7 IS NULL OR (d.created_at < ?8 AND EXISTS (SELECT 1 FROM attempts a "
                "WHERE a.delivery_id = d.id AND a.started_at >= ?7 AND a.started_at < ?8))) "
                "ORDER BY d.seq DESC LIMIT ?6");
    q.Bind(1, webhook_id).Bind(2, team_id).Bind(3, CursorSeq(cursor));
    if (filter.status) {
      q.Bind(4, ToString(*filter.status));
    } else {
      q.BindNull(4);
    }
    q.Bind(5, filter.event_type).Bind(6, static_cast<int64_t>(limit + 1));
    q.Bind(7, filter.attempted_since).Bind(8, filter.attempted_until);
    Page<Delivery> page;
    int64_t last_seq = 0;
    while (q.Step()) {
      if (page.items.size() == limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      page.items.push_back(LoadDeliveryRow(q));
      last_seq = q.Int(12);
    }
    return page;
  });
}

std::optional<Delivery> SqliteStore::GetDelivery(const std::string& team_id,
                                                 const std::string& id) {
  return Read([&](Db& db) -> std::optional<Delivery> {
    Query q(db, "SELECT " MAMBO_DELIVERY_COLUMNS
                ", e.timestamp, e.data FROM deliveries d "
                "JOIN events e ON e.seq = d.event_seq WHERE d.id = ? AND d.team_id = ?");
    q.Bind(1, id).Bind(2, team_id);
    if (!q.Step()) return std::nullopt;
    Delivery d = LoadDeliveryRow(q);
    d.event_timestamp = q.Int(13);
    d.event_data = q.Text(14);
    Query a(db,
            "SELECT id, delivery_id, number, started_at, duration_ms, http_status, "
            "COALESCE(cause, ''), error, request_headers, response_headers, response_excerpt, "
            "response_truncated, response_headers_truncated FROM attempts "
            "WHERE delivery_id = ? ORDER BY seq");
    a.Bind(1, d.id);
    while (a.Step()) {
      DeliveryAttempt at;
      at.id = a.Text(0);
      at.delivery_id = a.Text(1);
      at.number = static_cast<int>(a.Int(2));
      at.started_at = a.Int(3);
      at.duration_ms = a.Int(4);
      if (!a.IsNull(5)) at.http_status = static_cast<int>(a.Int(5));
      at.cause = Json(a.Text(6)).get<FailureCause>();
      at.error = a.Text(7);
      at.request_headers = ParseJson(a.Text(8)).value_or(Json::array()).get<Headers>();
      at.response_headers = ParseJson(a.Text(9)).value_or(Json::array()).get<Headers>();
      at.response_excerpt = a.Text(10);
      at.response_truncated = a.Int(11) != 0;
      at.response_headers_truncated = a.Int(12) != 0;
      d.attempts.push_back(std::move(at));
    }
    return d;
  });
}

Page<Event> SqliteStore::ListEvents(const std::string& team_id, const EventFilter& filter,
                                    size_t limit, const std::string& cursor) {
  return Read([&](Db& db) {
    Query q(db,
            "SELECT seq, id, type, timestamp FROM events WHERE team_id = ?1 "
            "AND (?2 = 0 OR seq < ?2) AND (?3 IS NULL OR type = ?3) "
            "AND (?4 IS NULL OR timestamp >= ?4) AND (?5 IS NULL OR timestamp < ?5) "
            "ORDER BY seq DESC LIMIT ?6");
    q.Bind(1, team_id).Bind(2, CursorSeq(cursor)).Bind(3, filter.type);
    q.Bind(4, filter.since).Bind(5, filter.until).Bind(6, static_cast<int64_t>(limit + 1));
    Page<Event> page;
    int64_t last_seq = 0;
    while (q.Step()) {
      if (page.items.size() == limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      page.items.push_back(Event{q.Text(1), q.Text(2), team_id, q.Int(3), nullptr});
      last_seq = q.Int(0);
    }
    return page;
  });
}

std::optional<EventRecord> SqliteStore::GetEvent(const std::string& team_id,
                                                 const std::string& id) {
  return Read([&](Db& db) -> std::optional<EventRecord> {
    Query q(db, "SELECT seq, type, timestamp, data FROM events WHERE team_id = ? AND id = ?");
    q.Bind(1, team_id).Bind(2, id);
    if (!q.Step()) return std::nullopt;
    EventRecord r;
    r.event = Event{id, q.Text(1), team_id, q.Int(2), ParseJson(q.Text(3)).value_or(nullptr)};
    Query d(db, "SELECT " MAMBO_DELIVERY_COLUMNS
                " FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                "WHERE d.event_seq = ? ORDER BY d.seq");
    d.Bind(1, q.Int(0));
    while (d.Step()) r.deliveries.push_back(LoadDeliveryRow(d));
    return r;
  });
}

// An active webhook failing since before ?1 (FailingWebhooks, NoticeCandidates): no success in
// its spell, which starts at its last success (or creation) or when it was switched on again,
// and a delivery that exhausted its retries within the spell.
#define MAMBO_FAILING_SINCE \
  "MAX(COALESCE(w.last_success_at, w.created_at), COALESCE(w.reenabled_at, 0))"
#define MAMBO_FAILING_BEFORE_1                                              \
  "w.active = 1 AND " MAMBO_FAILING_SINCE                                   \
  " < ?1 AND EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id " \
  "AND d.status = 'exhausted' AND d.updated_at >= "                         \
  "MAX(COALESCE(w.last_success_at, 0), COALESCE(w.reenabled_at, 0)))"

std::vector<Webhook> SqliteStore::FailingWebhooks(int64_t since) {
  return Read([&](Db& db) {
    Query q(db, "SELECT " MAMBO_WEBHOOK_COLUMNS " FROM webhooks w WHERE " MAMBO_FAILING_BEFORE_1);
    q.Bind(1, since);
    std::vector<Webhook> out;
    while (q.Step()) out.push_back(LoadWebhookRow(q, SecretLoad::kPresenceOnly));
    return out;
  });
}

std::vector<HistoryStore::NoticeCandidate> SqliteStore::NoticeCandidates(int64_t failing_before) {
  return Read([&](Db& db) {
    // The three kinds in one read; failing as FailingWebhooks judges it.
    Query q(db, "SELECT " MAMBO_WEBHOOK_COLUMNS ", 0, " MAMBO_FAILING_SINCE
                ", 0 FROM webhooks w "
                "WHERE w.notice_state IS NULL AND " MAMBO_FAILING_BEFORE_1
                " "
                "UNION ALL SELECT " MAMBO_WEBHOOK_COLUMNS
                ", 1, w.updated_at, 0 FROM webhooks w WHERE w.active = 0 "
                "AND w.disabled_reason IS NOT NULL AND w.notice_state IS NOT 'disabled' "
                "UNION ALL SELECT " MAMBO_WEBHOOK_COLUMNS
                ", 2, w.notice_at, w.last_success_at FROM webhooks w WHERE w.active = 1 "
                "AND w.notice_state IS NOT NULL AND w.last_success_at > w.notice_at");
    q.Bind(1, failing_before);
    std::vector<NoticeCandidate> out;
    while (q.Step()) {
      NoticeCandidate c;
      c.webhook = LoadWebhookRow(q, SecretLoad::kPresenceOnly);
      c.kind = static_cast<NoticeCandidate::Kind>(q.Int(13));
      c.since = q.Int(14);
      c.at = q.Int(15);
      out.push_back(std::move(c));
    }
    return out;
  });
}

void SqliteStore::SetNoticeState(const std::string& webhook_id,
                                 const std::optional<std::string>& state, int64_t at) {
  Write([&](Db& db) {
    Query(db, "UPDATE webhooks SET notice_state = ?, notice_at = ? WHERE id = ?")
        .Bind(1, state)
        .Bind(2, at)
        .Bind(3, webhook_id)
        .Run();
  });
}

StatsByWebhook SqliteStore::AttemptStats(const std::string& team_id,
                                         const std::vector<std::string>& webhook_ids,
                                         int64_t since) {
  const std::string ids = DumpJson(Json(webhook_ids));
  return Read([&](Db& db) {
    Query q(db,
            "SELECT s.webhook_id, s.hour, s.bucket, s.succeeded, s.failed FROM attempt_stats s "
            "JOIN webhooks w ON w.id = s.webhook_id WHERE w.team_id = ? "
            "AND s.webhook_id IN (SELECT value FROM json_each(?)) AND s.hour >= ? "
            "ORDER BY s.webhook_id, s.hour");
    q.Bind(1, team_id).Bind(2, ids).Bind(3, since);
    StatsByWebhook out;
    while (q.Step()) AddStatsRow(out, q.Text(0), q.Int(1), q.Int(2), q.Int(3), q.Int(4));
    return out;
  });
}

std::map<std::string, Delivery, std::less<>> SqliteStore::LastDeliveries(
    const std::string& team_id, const std::vector<std::string>& webhook_ids) {
  return Read([&](Db& db) {
    // One index lookup each (deliveries_webhook), in one read.
    std::map<std::string, Delivery, std::less<>> out;
    for (const std::string& id : webhook_ids) {
      Query q(db, "SELECT " MAMBO_DELIVERY_COLUMNS
                  " FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.seq = "
                  "(SELECT max(seq) FROM deliveries WHERE webhook_id = ?) AND d.team_id = ?");
      q.Bind(1, id).Bind(2, team_id);
      if (q.Step()) out.emplace(id, LoadDeliveryRow(q));
    }
    return out;
  });
}

void SqliteStore::PruneStats(int64_t before) {
  Write(
      [&](Db& db) { Query(db, "DELETE FROM attempt_stats WHERE hour < ?").Bind(1, before).Run(); });
}

namespace {

// Retention's scan: `q` yields (seq, time, wanted) in seq order, which is creation order; the
// seqs of the wanted rows, at most `limit`, stopping at the first row from `before` on. What it
// passes over is only what is kept though old (still waiting), which is rare.
std::vector<int64_t> OldestWanted(Query& q, int64_t before, size_t limit) {
  std::vector<int64_t> rows;
  while (rows.size() < limit && q.Step() && q.Int(1) < before) {
    if (q.Int(2) != 0) rows.push_back(q.Int(0));
  }
  return rows;
}

}  // namespace

int64_t SqliteStore::PruneBefore(int64_t before, size_t limit) {
  int64_t deleted = 0;
  Write([&](Db& db) {
    std::vector<int64_t> rows;
    {
      Query q(db,
              "SELECT seq, created_at, status IN ('succeeded', 'exhausted', 'cancelled') AND "
              "updated_at < ? "
              "FROM deliveries ORDER BY seq");
      q.Bind(1, before);
      rows = OldestWanted(q, before, limit);
    }
    for (const int64_t row : rows) {  // its attempts go with it (ON DELETE CASCADE)
      Query(db, "DELETE FROM deliveries WHERE seq = ?").Bind(1, row).Run();
    }
    // Events with no delivery left: those just emptied, and those that never had one (no
    // subscriber when ingested).
    std::vector<int64_t> events;
    {
      Query q(db,
              "SELECT seq, timestamp, NOT EXISTS (SELECT 1 FROM deliveries d "
              "WHERE d.event_seq = events.seq) FROM events ORDER BY seq");
      events = OldestWanted(q, before, limit);
    }
    for (const int64_t e : events) {
      Query(db, "DELETE FROM events WHERE seq = ?").Bind(1, e).Run();
    }
    deleted = static_cast<int64_t>(std::max(rows.size(), events.size()));
  });
  return deleted;
}

}  // namespace mambo::store
