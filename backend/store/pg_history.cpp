// PgHistoryStore: deliveries and attempts as recorded, auto-disable candidates and retention on
// PostgreSQL (store.h: HistoryStore).
#include "store/pg_internal.h"
#include "store/pg_store.h"
#include "store/sql_common.h"

namespace mambo::store {

using namespace sql;

Delivery pg::LoadDeliveryRow(const pg::Result& r, int row) {
  Delivery d;
  d.id = r.Text(row, 0);
  d.webhook_id = r.Text(row, 1);
  d.team_id = r.Text(row, 2);
  d.event_id = r.Text(row, 3);
  d.event_type = r.Text(row, 4);
  d.status = ParseDeliveryStatus(r.Text(row, 5)).value_or(DeliveryStatus::kPending);
  d.attempt_count = static_cast<int>(r.Int(row, 6));
  d.next_attempt_at = (d.status == DeliveryStatus::kPending || d.status == DeliveryStatus::kFailed)
                          ? r.Int(row, 7)
                          : 0;
  d.created_at = r.Int(row, 8);
  d.updated_at = r.Int(row, 9);
  if (!r.IsNull(row, 10)) d.last_http_status = static_cast<int>(r.Int(row, 10));
  d.last_cause = Json(r.Text(row, 11)).get<FailureCause>();
  return d;
}

Page<Delivery> PgHistoryStore::ListDeliveries(const std::string& team_id,
                                              const std::string& webhook_id,
                                              const DeliveryFilter& filter, size_t limit,
                                              const std::string& cursor) {
  // Newest first, which is what a person looking at history wants.
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run(
      "SELECT " MAMBO_DELIVERY_COLUMNS
      " FROM deliveries d JOIN events e ON e.seq = d.event_seq "
      "WHERE d.webhook_id = $1 AND d.team_id = $2 AND ($3::bigint = 0 OR d.seq < $3::bigint) "
      "AND ($4::text IS NULL OR d.status = $4) AND ($5::text IS NULL OR e.type = $5) "
      "AND ($7::bigint IS NULL OR (d.created_at < $8::bigint AND EXISTS (SELECT 1 FROM attempts "
      "a WHERE a.delivery_id = d.id AND a.started_at >= $7::bigint "
      "AND a.started_at < $8::bigint))) "
      "ORDER BY d.seq DESC LIMIT $6",
      {webhook_id, team_id, CursorSeq(cursor),
       filter.status ? pg::Param(ToString(*filter.status)) : pg::Param(), filter.event_type,
       limit + 1, filter.attempted_since, filter.attempted_until});
  Page<Delivery> page;
  for (int i = 0; i < r.rows(); ++i) {
    if (page.items.size() == limit) {
      page.next_cursor = std::to_string(r.Int(i - 1, 12));
      break;
    }
    page.items.push_back(pg::LoadDeliveryRow(r, i));
  }
  return page;
}

Page<Event> PgHistoryStore::ListEvents(const std::string& team_id, const EventFilter& filter,
                                       size_t limit, const std::string& cursor) {
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run(
      "SELECT seq, id, type, timestamp FROM events WHERE team_id = $1 "
      "AND ($2::bigint = 0 OR seq < $2::bigint) AND ($3::text IS NULL OR type = $3) "
      "AND ($4::bigint IS NULL OR timestamp >= $4) AND ($5::bigint IS NULL OR timestamp < $5) "
      "ORDER BY seq DESC LIMIT $6",
      {team_id, CursorSeq(cursor), filter.type, filter.since, filter.until, limit + 1});
  Page<Event> page;
  for (int i = 0; i < r.rows(); ++i) {
    if (page.items.size() == limit) {
      page.next_cursor = std::to_string(r.Int(i - 1, 0));
      break;
    }
    page.items.push_back(Event{r.Text(i, 1), r.Text(i, 2), team_id, r.Int(i, 3), nullptr});
  }
  return page;
}

std::optional<EventRecord> PgHistoryStore::GetEvent(const std::string& team_id,
                                                    const std::string& id) {
  auto c = db_.pool().Acquire();
  pg::Result e =
      c->Run("SELECT seq, type, timestamp, data FROM events WHERE team_id = $1 AND id = $2",
             {team_id, id});
  if (e.rows() == 0) return std::nullopt;
  EventRecord out;
  out.event =
      Event{id, e.Text(0, 1), team_id, e.Int(0, 2), ParseJson(e.Text(0, 3)).value_or(nullptr)};
  pg::Result d = c->Run("SELECT " MAMBO_DELIVERY_COLUMNS
                        " FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                        "WHERE d.event_seq = $1 ORDER BY d.seq",
                        {e.Int(0, 0)});
  for (int i = 0; i < d.rows(); ++i) out.deliveries.push_back(pg::LoadDeliveryRow(d, i));
  return out;
}

std::optional<Delivery> PgHistoryStore::GetDelivery(const std::string& team_id,
                                                    const std::string& id) {
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run("SELECT " MAMBO_DELIVERY_COLUMNS
                        ", e.timestamp, e.data FROM deliveries d "
                        "JOIN events e ON e.seq = d.event_seq WHERE d.id = $1 AND d.team_id = $2",
                        {id, team_id});
  if (r.rows() == 0) return std::nullopt;
  Delivery d = pg::LoadDeliveryRow(r, 0);
  d.event_timestamp = r.Int(0, 13);
  d.event_data = r.Text(0, 14);
  pg::Result a = c->Run(
      "SELECT id, delivery_id, number, started_at, duration_ms, http_status, "
      "COALESCE(cause, ''), error, request_headers, response_headers, response_excerpt, "
      "response_truncated, response_headers_truncated FROM attempts "
      "WHERE delivery_id = $1 ORDER BY number",
      {d.id});
  for (int i = 0; i < a.rows(); ++i) {
    DeliveryAttempt at;
    at.id = a.Text(i, 0);
    at.delivery_id = a.Text(i, 1);
    at.number = static_cast<int>(a.Int(i, 2));
    at.started_at = a.Int(i, 3);
    at.duration_ms = a.Int(i, 4);
    if (!a.IsNull(i, 5)) at.http_status = static_cast<int>(a.Int(i, 5));
    at.cause = Json(a.Text(i, 6)).get<FailureCause>();
    at.error = a.Text(i, 7);
    at.request_headers = ParseJson(a.Text(i, 8)).value_or(Json::array()).get<Headers>();
    at.response_headers = ParseJson(a.Text(i, 9)).value_or(Json::array()).get<Headers>();
    at.response_excerpt = a.Bytes(i, 10);
    at.response_truncated = a.Bool(i, 11);
    at.response_headers_truncated = a.Bool(i, 12);
    d.attempts.push_back(std::move(at));
  }
  return d;
}

// An active webhook failing since before $1 (FailingWebhooks, NoticeCandidates): no success in
// its spell, which starts at its last success (or creation) or when it was switched on again,
// and a delivery that exhausted its retries within the spell. (GREATEST ignores NULLs.)
#define MAMBO_FAILING_SINCE "GREATEST(COALESCE(w.last_success_at, w.created_at), w.reenabled_at)"
#define MAMBO_FAILING_BEFORE_1                                              \
  "w.active AND " MAMBO_FAILING_SINCE                                       \
  " < $1 AND EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id " \
  "AND d.status = 'exhausted' AND d.updated_at >= "                         \
  "GREATEST(COALESCE(w.last_success_at, 0), w.reenabled_at))"

std::vector<Webhook> PgHistoryStore::FailingWebhooks(int64_t since) {
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run(
      "SELECT " MAMBO_WEBHOOK_COLUMNS " FROM webhooks w WHERE " MAMBO_FAILING_BEFORE_1, {since});
  std::vector<Webhook> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back(pg::LoadWebhookRow(r, i, db_.box(), SecretLoad::kPresenceOnly));
  return out;
}

std::vector<HistoryStore::NoticeCandidate> PgHistoryStore::NoticeCandidates(
    int64_t failing_before) {
  // The three kinds in one read; failing as FailingWebhooks judges it.
  auto c = db_.pool().Acquire();
  pg::Result r =
      c->Run("SELECT " MAMBO_WEBHOOK_COLUMNS ", 0, " MAMBO_FAILING_SINCE
             ", 0::bigint FROM webhooks w "
             "WHERE w.notice_state IS NULL AND " MAMBO_FAILING_BEFORE_1
             " "
             "UNION ALL SELECT " MAMBO_WEBHOOK_COLUMNS
             ", 1, w.updated_at, 0::bigint FROM webhooks w WHERE NOT w.active "
             "AND w.disabled_reason IS NOT NULL AND w.notice_state IS DISTINCT FROM 'disabled' "
             "UNION ALL SELECT " MAMBO_WEBHOOK_COLUMNS
             ", 2, w.notice_at, w.last_success_at FROM webhooks w WHERE w.active "
             "AND w.notice_state IS NOT NULL AND w.last_success_at > w.notice_at",
             {failing_before});
  std::vector<NoticeCandidate> out;
  for (int i = 0; i < r.rows(); ++i) {
    NoticeCandidate n;
    n.webhook = pg::LoadWebhookRow(r, i, db_.box(), SecretLoad::kPresenceOnly);
    n.kind = static_cast<NoticeCandidate::Kind>(r.Int(i, 13));
    n.since = r.Int(i, 14);
    n.at = r.Int(i, 15);
    out.push_back(std::move(n));
  }
  return out;
}

void PgHistoryStore::SetNoticeState(const std::string& webhook_id,
                                    const std::optional<std::string>& state, int64_t at) {
  auto c = db_.pool().Acquire();
  c->Run("UPDATE webhooks SET notice_state = $1, notice_at = $2 WHERE id = $3",
         {state, at, webhook_id});
}

StatsByWebhook PgHistoryStore::AttemptStats(const std::string& team_id,
                                            const std::vector<std::string>& webhook_ids,
                                            int64_t since) {
  auto c = db_.pool().Acquire();
  const pg::Result r = c->Run(
      "SELECT s.webhook_id, s.hour, s.bucket, s.succeeded, s.failed FROM attempt_stats s "
      "JOIN webhooks w ON w.id = s.webhook_id WHERE w.team_id = $1 "
      "AND s.webhook_id = ANY($2::text[]) AND s.hour >= $3 ORDER BY s.webhook_id, s.hour",
      {team_id, pg::Array::Of(webhook_ids), since});
  StatsByWebhook out;
  for (int i = 0; i < r.rows(); ++i) {
    AddStatsRow(out, r.Text(i, 0), r.Int(i, 1), r.Int(i, 2), r.Int(i, 3), r.Int(i, 4));
  }
  return out;
}

std::map<std::string, Delivery, std::less<>> PgHistoryStore::LastDeliveries(
    const std::string& team_id, const std::vector<std::string>& webhook_ids) {
  auto c = db_.pool().Acquire();
  const pg::Result r = c->Run(
      "SELECT x.* FROM unnest($2::text[]) AS w(id) CROSS JOIN LATERAL "
      "(SELECT " MAMBO_DELIVERY_COLUMNS
      " FROM deliveries d JOIN events e ON e.seq = d.event_seq WHERE d.webhook_id = w.id "
      "AND d.team_id = $1 ORDER BY d.seq DESC LIMIT 1) x",
      {team_id, pg::Array::Of(webhook_ids)});
  std::map<std::string, Delivery, std::less<>> out;
  for (int i = 0; i < r.rows(); ++i) {
    Delivery d = pg::LoadDeliveryRow(r, i);
    std::string id = d.webhook_id;
    out.emplace(std::move(id), std::move(d));
  }
  return out;
}

void PgHistoryStore::PruneStats(int64_t before) {
  auto c = db_.pool().Acquire();
  c->Run("DELETE FROM attempt_stats WHERE hour < $1", {before});
}

int64_t PgHistoryStore::PruneBefore(int64_t before, size_t limit) {
  // The oldest finished deliveries first, with their attempts, then events with no delivery
  // left: those just emptied, and those that never had one. Deliveries still waiting are kept
  // however old.
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  const int64_t deliveries =
      c->Run(
           "WITH d AS (DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries "
           "WHERE created_at < $1 AND status IN ('succeeded', 'exhausted', 'cancelled') AND "
           "updated_at < $1 "
           "ORDER BY seq LIMIT $2) RETURNING id), "
           "a AS (DELETE FROM attempts WHERE delivery_id IN (SELECT id FROM d)) "
           "SELECT count(*) FROM d",
           {before, limit})
          .Int(0, 0);
  const int64_t events =
      c->Run(
           "DELETE FROM events WHERE seq IN (SELECT seq FROM events ev WHERE ev.timestamp < $1 "
           "AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = ev.seq) "
           "ORDER BY seq LIMIT $2)",
           {before, limit})
          .affected();
  tx.Commit();
  return std::max(deliveries, events);
}

}  // namespace mambo::store
