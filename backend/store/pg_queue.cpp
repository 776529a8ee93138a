// PgQueueStore: events, fan-out, leases and attempts on PostgreSQL (store.h: QueueStore).
//
// Several instances lease from one table. A lease locks the rows it looks at with FOR UPDATE
// SKIP LOCKED, so instances leasing at the same moment pass over each other's rows instead of
// waiting, and stamps each taken row with its owner and a new lease id from a sequence. An
// attempt is recorded only where the delivery is still in flight under that lease id: an
// instance that lost its lease (paused past the expiry, cut off from the database) and whose
// delivery another instance took meanwhile records nothing over it.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "store/pg_internal.h"
#include "store/pg_store.h"
#include "store/sql_common.h"
#include "util/thread.h"

namespace mambo::store {

using namespace sql;
using pg::Param;

// The two ways to read due rows past a backlog without room (LeaseDue, NextDueAt): due order
// passes over at most this many rows of webhooks left out; after that, webhook by webhook.
#define MAMBO_PASS_OVER 256
#define MAMBO_STR(x) #x
#define MAMBO_STRING(x) MAMBO_STR(x)  // a macro's value as a string literal, for SQL texts
// ids(id): the webhooks with queued rows, one index probe each (a loose index scan; the last
// row is NULL).
#define MAMBO_QUEUED_WEBHOOKS                                                                 \
  "WITH RECURSIVE ids(id) AS ("                                                               \
  "SELECT (SELECT webhook_id FROM queue ORDER BY webhook_id LIMIT 1) UNION ALL "              \
  "SELECT (SELECT webhook_id FROM queue WHERE webhook_id > ids.id ORDER BY webhook_id LIMIT " \
  "1) FROM ids WHERE ids.id IS NOT NULL) "

// queue holds one row per live delivery (pending, failed or in flight; see the schema), and
// the statements that change a delivery's status or due time keep it, in the same statement.
// MAMBO_QUEUE_SYNC(u) ends a WITH list whose data-modifying CTE `u` returned (seq, status,
// due_at, webhook_id, team_id, forced): live rows enter queue or get their new due time there,
// the others leave it.
// Connection options for the engine's own connections (lease, recorder), whose statements
// touch a handful of rows each and find them by key: plans through indexes only. The planner
// otherwise misjudged batches sent as arrays (unnest counts as 100 rows whatever its size) or
// statistics caught mid-run, and read all of deliveries by hash join (pg_stat_user_tables: 439
// sequential scans of deliveries, 6.5 million rows read in 14 s of the delivery benchmark).
#define MAMBO_INDEX_PLANS_ONLY \
  "-c enable_seqscan=off -c enable_hashjoin=off -c enable_mergejoin=off"
#define MAMBO_LIVE "('pending', 'failed', 'in_flight')"
#define MAMBO_QUEUE_SYNC(u)                                                                      \
  "qd AS (DELETE FROM queue WHERE seq IN (SELECT seq FROM " u " WHERE status NOT IN " MAMBO_LIVE \
  ")), qu AS (INSERT INTO queue(seq, due_at, webhook_id, team_id, forced) "                      \
  "SELECT seq, due_at, webhook_id, team_id, forced FROM " u " WHERE status IN " MAMBO_LIVE       \
  " ON CONFLICT (seq) DO UPDATE SET due_at = EXCLUDED.due_at) "
// The rows of `u` stay live with a new due time (seq, due_at).
#define MAMBO_QUEUE_DUE(u) \
  "qu AS (UPDATE queue q SET due_at = " u ".due_at FROM " u " WHERE q.seq = " u ".seq) "

namespace {

// A webhook's sealed secret (current or rotated out) for signing; a secret that does not open
// is a main key that is not this database's, which no request can mend.
std::string OpenSecret(const crypto::SecretBox& box, std::string_view sealed,
                       const std::string& webhook_id) {
  auto plain = box.Open(sealed, webhook_id);
  if (!plain) {
    throw StoreError("secret of webhook " + webhook_id +
                     " does not decrypt: wrong main key for this database?");
  }
  return std::move(*plain);
}

// Inserts the event unless its id is known for the team; its seq, or 0 when it was known.
int64_t InsertEvent(pg::Conn& c, const Event& e, const std::string& data) {
  pg::Result r = c.Run(
      "INSERT INTO events(id, team_id, type, timestamp, data) VALUES ($1, $2, $3, $4, $5) "
      "ON CONFLICT (team_id, id) DO NOTHING RETURNING seq",
      {e.id, e.team_id, e.type, e.timestamp, data});
  return r.rows() > 0 ? r.Int(0, 0) : 0;
}

}  // namespace

PgQueueStore::PgQueueStore(PgDatabase& db, std::string owner) : db_(db), owner_(std::move(owner)) {
  recorder_ = std::thread([this] { RecorderLoop(); });
}

PgQueueStore::~PgQueueStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  recorder_.join();
}

// One event waiting in IngestEvent for the batch that carries it.
struct PgQueueStore::IngestWaiter {
  const Event& event;
  const int64_t now;
  bool done = false;  // under ingest_mu_; the fields below are the leader's until then
  bool created = false;
  std::vector<std::string> delivery_ids{};
  std::exception_ptr error{};
};

// Group commit: every ingest waits for its own commit (an accepted event is durable), but the
// events that arrive while a batch commits go together in the next one, so a burst of ingests
// shares statements and flushes of PostgreSQL's log instead of paying one each. A caller that
// finds fewer than kIngestLeaders batches under way leads one itself, so a lone event goes at once.
IngestResult PgQueueStore::IngestEvent(const Event& event, int64_t now) {
  constexpr int kIngestLeaders = 2;  // one batch executing while another waits on the flush
  constexpr size_t kMaxBatch = 64;
  IngestWaiter me{event, now};
  {
    std::unique_lock lock(ingest_mu_);
    ingest_queue_.push_back(&me);
    while (!me.done) {
      if (ingest_leaders_ >= kIngestLeaders || ingest_queue_.empty()) {
        ingest_cv_.wait(lock);
        continue;
      }
      std::vector<IngestWaiter*> batch;
      while (!ingest_queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(ingest_queue_.front());
        ingest_queue_.pop_front();
      }
      ++ingest_leaders_;
      lock.unlock();
      try {
        IngestBatch(batch);  // catches what the database throws; this is for the rest
      } catch (...) {
        // Whatever it was, the waiters hear of it and the leader's place is given back: a
        // leader lost here would leave every later ingest waiting.
        for (IngestWaiter* w : batch) w->error = std::current_exception();
      }
      lock.lock();
      --ingest_leaders_;
      for (IngestWaiter* w : batch) w->done = true;
      ingest_cv_.notify_all();
    }
  }
  if (me.error) std::rethrow_exception(me.error);
  IngestResult result;
  if (me.created) {
    result.created = true;
    result.event = event;
    result.delivery_ids = std::move(me.delivery_ids);
    return result;
  }
  // The id was seen before (here or on another instance, which committed first: ON CONFLICT
  // waited for it): answer as the first time.
  auto c = db_.pool().Acquire();
  pg::Result e = c->Run(
      "SELECT seq, id, team_id, type, timestamp, data FROM events WHERE team_id = $1 AND id = $2",
      {event.team_id, event.id});
  if (e.rows() == 0) throw StoreError("event " + event.id + " vanished during ingest");
  result.event = Event{e.Text(0, 1), e.Text(0, 3), e.Text(0, 2), e.Int(0, 4),
                       ParseJson(e.Text(0, 5)).value_or(Json::object())};
  pg::Result d =
      c->Run("SELECT id FROM deliveries WHERE event_seq = $1 ORDER BY seq", {e.Int(0, 0)});
  for (int i = 0; i < d.rows(); ++i) result.delivery_ids.push_back(d.Text(i, 0));
  return result;
}

size_t PgQueueStore::IngestsWaiting() {
  std::lock_guard lock(ingest_mu_);
  return ingest_queue_.size();
}

// One statement, so one round trip and one implicit transaction for the whole batch: the teams
// (if new), the events (unless their ids are known), one delivery per active subscribed webhook
// as this statement sees the webhooks (a change committed on any instance before counts at
// once). Delivery ids are each event's own id with the webhook's rank. Sets each waiter's
// outcome; a batch that fails is retried one event at a time, so one bad event cannot fail the
// others.
void PgQueueStore::IngestBatch(const std::vector<IngestWaiter*>& batch) {
  // An id twice in the batch: the first copy goes in; the others are "seen before", as they
  // would be one batch later. The rest in key order, as every batch takes its row locks, so two
  // batches holding the same new ids cannot deadlock.
  std::vector<IngestWaiter*> rows;
  std::set<std::pair<std::string_view, std::string_view>> keys;
  for (IngestWaiter* w : batch) {
    if (keys.emplace(w->event.team_id, w->event.id).second) rows.push_back(w);
  }
  std::sort(rows.begin(), rows.end(), [](const IngestWaiter* a, const IngestWaiter* b) {
    return std::tie(a->event.team_id, a->event.id) < std::tie(b->event.team_id, b->event.id);
  });
  try {
    pg::Array ord, id, team, type, ts, data, dlv, now;
    for (size_t i = 0; i < rows.size(); ++i) {
      const Event& e = rows[i]->event;
      ord.Add(static_cast<int64_t>(i));
      id.Add(e.id);
      team.Add(e.team_id);
      type.Add(e.type);
      ts.Add(e.timestamp);
      data.Add(DumpJson(e.data));
      dlv.Add(crypto::NewId("dlv", rows[i]->now));
      now.Add(rows[i]->now);
    }
    pg::Result r = [&] {
      auto c = db_.pool().Acquire();
      return c->Run(
          "WITH input AS (SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[], "
          "$5::bigint[], $6::text[], $7::text[], $8::bigint[]) "
          "AS i(ord, id, team_id, type, ts, data, dlv, now)), "
          "t AS (INSERT INTO teams(id, created_at) SELECT team_id, min(now) FROM input "
          "GROUP BY team_id ORDER BY team_id ON CONFLICT (id) DO NOTHING), "
          "e AS (INSERT INTO events(id, team_id, type, timestamp, data) "
          "SELECT id, team_id, type, ts, data FROM input ORDER BY ord "
          "ON CONFLICT (team_id, id) DO NOTHING RETURNING seq, id, team_id, type), "
          "d AS (INSERT INTO deliveries(id, webhook_id, team_id, event_seq, status, due_at, "
          "created_at, updated_at) SELECT i.dlv || '_' || row_number() OVER (PARTITION BY e.seq "
          "ORDER BY w.seq), w.id, e.team_id, e.seq, 'pending', i.now, i.now, i.now "
          "FROM e JOIN input i ON i.team_id = e.team_id AND i.id = e.id JOIN webhooks w "
          "ON w.team_id = e.team_id AND w.active AND w.events::jsonb ? e.type "
          "RETURNING event_seq, id, seq, due_at, webhook_id, team_id), "
          "q AS (INSERT INTO queue(seq, due_at, webhook_id, team_id, forced) "
          "SELECT seq, due_at, webhook_id, team_id, false FROM d) "
          "SELECT i.ord, (SELECT string_agg(d.id, ',') FROM d WHERE d.event_seq = e.seq) "
          "FROM e JOIN input i ON i.team_id = e.team_id AND i.id = e.id",
          {ord, id, team, type, ts, data, dlv, now});
    }();
    bool queued = false;
    for (int row = 0; row < r.rows(); ++row) {
      IngestWaiter& w = *rows.at(static_cast<size_t>(r.Int(row, 0)));
      w.created = true;
      if (r.IsNull(row, 1)) continue;
      queued = true;
      std::stringstream ids(r.Text(row, 1));
      for (std::string id; std::getline(ids, id, ',');) w.delivery_ids.push_back(id);
      // In the webhooks' order, as ranked in the ids.
      const auto rank = [](const std::string& id) {
        return std::stoll(id.substr(id.rfind('_') + 1));
      };
      std::sort(w.delivery_ids.begin(), w.delivery_ids.end(),
                [&](const std::string& x, const std::string& y) { return rank(x) < rank(y); });
    }
    if (queued) NotifyAfterCommit(rows.front()->now);
  } catch (const std::exception& e) {
    if (batch.size() == 1) {
      batch.front()->error = std::current_exception();
      return;
    }
    spdlog::warn("ingesting {} events together failed ({}); ingesting them one by one",
                 batch.size(), e.what());
    for (IngestWaiter* w : batch) {
      w->created = false;
      w->delivery_ids.clear();
      IngestBatch({w});
    }
  }
}

IngestResult PgQueueStore::QueueToWebhooks(const Event& event,
                                           const std::vector<std::string>& webhook_ids,
                                           int64_t now) {
  const std::string data = DumpJson(event.data);
  IngestResult result;
  result.event = event;
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  pg::EnsureTeam(*c, event.team_id, now);
  const int64_t seq = InsertEvent(*c, event, data);
  if (seq == 0) return result;  // made before: queued then
  result.created = true;
  for (size_t i = 0; i < webhook_ids.size(); ++i) {
    result.delivery_ids.push_back(crypto::NewId("dlv", now));
  }
  if (!webhook_ids.empty()) {
    c->Run(
        "WITH d AS (INSERT INTO deliveries(id, webhook_id, team_id, event_seq, status, due_at, "
        "created_at, updated_at, forced) SELECT t.id, t.webhook_id, $3, $4, 'pending', $5, $5, "
        "$5, false FROM unnest($1::text[], $2::text[]) AS t(id, webhook_id) "
        "RETURNING seq, due_at, webhook_id, team_id, forced) "
        "INSERT INTO queue(seq, due_at, webhook_id, team_id, forced) SELECT * FROM d",
        {pg::Array::Of(result.delivery_ids), pg::Array::Of(webhook_ids), event.team_id, seq, now});
  }
  tx.Commit();
  if (!webhook_ids.empty()) NotifyAfterCommit(now);
  return result;
}

std::string PgQueueStore::QueueSingleDelivery(const Event& event, const std::string& webhook_id,
                                              int64_t now) {
  const std::string data = DumpJson(event.data);
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  pg::EnsureTeam(*c, event.team_id, now);
  const int64_t seq = InsertEvent(*c, event, data);
  if (seq == 0) throw StoreError("event id " + event.id + " already exists");
  // A test event goes out even while the webhook is disabled ("forced"): that is how a team
  // checks an endpoint before enabling it.
  std::string id = crypto::NewId("dlv", now);
  c->Run(
      "WITH d AS (INSERT INTO deliveries(id, webhook_id, team_id, event_seq, status, due_at, "
      "created_at, updated_at, forced) VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5, $6) "
      "RETURNING seq, due_at, webhook_id, team_id, forced) "
      "INSERT INTO queue(seq, due_at, webhook_id, team_id, forced) SELECT * FROM d",
      {id, webhook_id, event.team_id, seq, now, event.type == "webhook.test"});
  tx.Commit();
  NotifyAfterCommit(now);
  return id;
}

std::vector<DeliveryTask> PgQueueStore::LeaseDue(int64_t now, size_t limit, int64_t lease_until,
                                                 const LeaseRoom& room) {
  if (limit == 0) return {};
  // Webhooks and teams without room are left out by the query itself, however long their
  // backlog; those this lease fills are passed over within the scanned window.
  std::vector<std::string> closed_webhooks, closed_teams;
  for (const auto& [id, r] : room.room) {
    if (r == 0) closed_webhooks.push_back(id);
  }
  for (const auto& [id, r] : room.team_room) {
    if (r == 0) closed_teams.push_back(id);
  }
  // The window of due rows read: four times what may be taken, to pass over the rows of
  // webhooks this lease fills. What may be taken is often far less than `limit`: the room of
  // the open webhooks the engine knows plus one unknown webhook's (reading 512 rows to take 6
  // cost more than all else in a lease). Rows past the window wait for the next lease, which
  // no longer reads those of the webhooks this one filled: they are closed then.
  size_t takeable = std::min(limit, room.default_room);
  for (const auto& [id, r] : room.room) takeable += std::min(r, limit - takeable);
  const size_t scan = std::min<size_t>(takeable, 1 << 16) * 4;
  // Two statements, no transaction around them: a plain read of the due rows (no locks, no
  // WAL), the choice by room here, then one UPDATE that locks the chosen rows with SKIP LOCKED
  // (another instance leasing the same rows now passes over them, and rows it leased since
  // the read fail the re-check) and takes them. Only the rows taken are locked.
  std::lock_guard lease_lock(lease_mu_);
  if (!lease_conn_ || !lease_conn_->ok()) {
    // A lost lease costs a second send, which at-least-once allows: no need to wait for its
    // commit to reach the disk. Every statement here finds its rows through an index (by due
    // time, by webhook, by key): once autovacuum's statistics came in mid-run, the planner
    // sometimes switched the lease UPDATE to a plan without them, and each lease took 17-21 ms
    // for the rest of the run (half the pg1 runs fell to ~1,000 deliveries/s; 3 of 3 held
    // ~1,900/s with these off). Connection options, so that a reconnect keeps them.
    lease_conn_ = std::make_unique<pg::Conn>(db_.pool().uri(),
                                             "-c synchronous_commit=off " MAMBO_INDEX_PLANS_ONLY);
  }
  pg::Conn* c = lease_conn_.get();
  // Usually the due rows are read in due order, up to `scan` usable ones; the rows of
  // webhooks and teams without room are passed over, but no more than MAMBO_PASS_OVER. A
  // marker row (seq -1) says the read stopped there: then the rows behind a backlog without
  // room are reached webhook by webhook instead (the webhooks with queued rows, one index probe
  // each, and each one's first due rows), at a cost that grows with the webhooks queued, not
  // with their backlogs.
  const pg::Param closed_webhook_ids = pg::Array::Of(closed_webhooks);
  const pg::Param closed_team_ids = pg::Array::Of(closed_teams);
  // Whether a webhook is active is looked up once per webhook in the window, not once per row
  // (auto_explain: 356 probes of webhooks, 5 ms of a 7 ms lease read).
  // (The marker once came whenever the window was full, i.e. behind any backlog longer than
  // it, even with every usable row found: pg_stat_statements showed the second read after
  // nearly every lease of the delivery benchmark.)
  pg::Result candidates = c->Run(
      "WITH win AS MATERIALIZED (SELECT seq, webhook_id, team_id, forced, due_at FROM queue "
      "WHERE due_at <= $1 ORDER BY due_at LIMIT $4::bigint + " MAMBO_STRING(MAMBO_PASS_OVER)
      "), "
      "usable AS MATERIALIZED (SELECT q.seq, q.webhook_id, q.team_id, q.due_at FROM win q "
      "WHERE q.webhook_id <> ALL($2::text[]) AND q.team_id <> ALL($3::text[]) "
      "AND (q.forced OR q.webhook_id = ANY((SELECT array_agg(w.id) FROM webhooks w "
      "WHERE w.active AND w.id IN (SELECT DISTINCT webhook_id FROM win))::text[])) "
      "ORDER BY q.due_at LIMIT $4) "
      "(SELECT seq, webhook_id, team_id FROM usable ORDER BY due_at) "
      "UNION ALL SELECT -1, '', '' WHERE (SELECT count(*) FROM win) = $4::bigint "
      "+ " MAMBO_STRING(MAMBO_PASS_OVER) " AND (SELECT count(*) FROM usable) < $4::bigint",
      {now, closed_webhook_ids, closed_team_ids, scan});
  bool passed_over_enough = false;
  for (int i = 0; i < candidates.rows(); ++i) passed_over_enough |= candidates.Int(i, 0) == -1;
  if (passed_over_enough) {
    candidates =
        c->Run(MAMBO_QUEUED_WEBHOOKS
               "SELECT seq, webhook_id, team_id FROM ("
               "SELECT r.seq, r.webhook_id, r.team_id, r.due_at FROM ids "
               "JOIN webhooks w ON w.id = ids.id AND w.active AND w.team_id <> ALL($3::text[]) "
               "CROSS JOIN LATERAL (SELECT q.seq, q.webhook_id, q.team_id, q.due_at FROM queue q "
               "WHERE q.webhook_id = ids.id AND q.due_at <= $1 ORDER BY q.due_at LIMIT $4) r "
               "WHERE ids.id <> ALL($2::text[]) "
               "UNION ALL "  // test deliveries to disabled webhooks
               "SELECT q.seq, q.webhook_id, q.team_id, q.due_at FROM queue q "
               "JOIN webhooks w ON w.id = q.webhook_id AND NOT w.active "
               "WHERE q.forced AND q.due_at <= $1 AND q.webhook_id <> ALL($2::text[]) "
               "AND q.team_id <> ALL($3::text[])) AS due ORDER BY due_at LIMIT $4",
               {now, closed_webhook_ids, closed_team_ids, scan});
  }
  std::map<std::string, size_t, std::less<>> taken, team_taken;
  std::vector<int64_t> chosen;
  for (int i = 0; i < candidates.rows() && chosen.size() < limit; ++i) {
    const std::string webhook_id = candidates.Text(i, 1);
    const std::string team_id = candidates.Text(i, 2);
    if (taken[webhook_id] >= room.For(webhook_id) || team_taken[team_id] >= room.ForTeam(team_id)) {
      continue;
    }
    ++taken[webhook_id];
    ++team_taken[team_id];
    chosen.push_back(candidates.Int(i, 0));
  }
  if (chosen.empty()) return {};
  pg::Result r = c->Run(
      "WITH u AS (UPDATE deliveries d SET status = 'in_flight', due_at = $1, lease_owner = $2, "
      "lease_id = nextval('lease_ids') FROM (SELECT seq FROM deliveries WHERE seq = "
      "ANY($3::bigint[]) AND status IN " MAMBO_LIVE
      " AND due_at <= $4 "
      "FOR UPDATE SKIP LOCKED) AS c, events e, webhooks w "
      "WHERE d.seq = c.seq AND e.seq = d.event_seq AND w.id = d.webhook_id "
      "RETURNING d.seq, d.id, d.webhook_id, d.team_id, e.id AS event_id, e.type, "
      "d.attempt_count, d.created_at, d.updated_at, e.timestamp, e.data, w.url, w.secret_enc, "
      "w.prev_secret_enc, w.prev_valid_until, w.active, d.lease_id, d.due_at, "
      "w.rate_limit_per_second, w.headers_enc), " MAMBO_QUEUE_DUE("u") "SELECT * FROM u",
      {lease_until, owner_, pg::Array::Of(chosen), now});

  std::unordered_map<int64_t, size_t> order;  // seq -> position in due order
  for (size_t i = 0; i < chosen.size(); ++i) order[chosen[i]] = i;
  // By webhook id: its secrets and its headers.
  std::unordered_map<std::string, std::pair<std::vector<std::string>, Headers>> sealed_parts;
  std::vector<std::pair<size_t, DeliveryTask>> ranked;
  std::vector<std::string> rotated;  // webhooks whose rotated-out secrets still sign
  for (int i = 0; i < r.rows(); ++i) {
    DeliveryTask t;
    Delivery& d = t.delivery;
    d.id = r.Text(i, 1);
    d.webhook_id = r.Text(i, 2);
    d.team_id = r.Text(i, 3);
    d.event_id = r.Text(i, 4);
    d.event_type = r.Text(i, 5);
    d.status = DeliveryStatus::kInFlight;
    d.attempt_count = static_cast<int>(r.Int(i, 6));
    d.created_at = r.Int(i, 7);
    d.updated_at = r.Int(i, 8);
    t.event = Event{d.event_id, d.event_type, d.team_id, r.Int(i, 9), nullptr};
    t.data_json = r.Text(i, 10);
    t.url = r.Text(i, 11);
    // An AES-GCM open per secret and for the headers: once per webhook and lease, not per
    // delivery.
    auto [cached, fresh] = sealed_parts.try_emplace(d.webhook_id);
    if (fresh) {
      if (!r.IsNull(i, 12))
        cached->second.first.push_back(OpenSecret(db_.box(), r.Bytes(i, 12), d.webhook_id));
      if (r.OptInt(i, 14).value_or(0) > now) rotated.push_back(d.webhook_id);
      cached->second.second = OpenHeaders(db_.box(), r.OptBytes(i, 19), d.webhook_id);
    }
    t.webhook_active = r.Bool(i, 15);
    t.lease_id = r.Int(i, 16);
    if (const auto rate = r.OptInt(i, 18)) t.rate_limit_per_second = static_cast<int>(*rate);
    ranked.emplace_back(order[r.Int(i, 0)], std::move(t));
  }
  if (!rotated.empty()) {  // after the current secret, latest expiry first
    const pg::Result prev = c->Run(
        "SELECT webhook_id, secret_enc FROM previous_secrets WHERE webhook_id = ANY($1::text[]) "
        "AND valid_until > $2 ORDER BY webhook_id, valid_until DESC",
        {pg::Array::Of(rotated), now});
    for (int i = 0; i < prev.rows(); ++i) {
      const std::string webhook_id = prev.Text(i, 0);
      sealed_parts[webhook_id].first.push_back(OpenSecret(db_.box(), prev.Bytes(i, 1), webhook_id));
    }
  }
  for (auto& [rank, t] : ranked) {
    const auto& [secrets, headers] = sealed_parts.at(t.delivery.webhook_id);
    t.secrets = secrets;
    t.headers = headers;
  }
  std::sort(ranked.begin(), ranked.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<DeliveryTask> out;
  out.reserve(ranked.size());
  for (auto& [_, t] : ranked) out.push_back(std::move(t));
  return out;
}

bool PgQueueStore::NotifySlot(int64_t now) {
  int64_t last = last_notify_.load();
  return now - last >= 5 && last_notify_.compare_exchange_strong(last, now);
}

void PgQueueStore::NotifyAfterCommit(int64_t now) {
  if (!NotifySlot(now)) return;
  // After the commit, from a connection of its own that does not wait for the disk: PostgreSQL
  // holds a database-wide lock from a notifying transaction's pre-commit until its commit is
  // flushed, so a NOTIFY inside the ingest transaction made the ingests of all instances take
  // turns at the disk (seen as Lock:object waits in pg_stat_activity with two instances).
  try {
    std::lock_guard lock(notify_mu_);
    if (!notify_conn_ || !notify_conn_->ok()) {
      notify_conn_ = std::make_unique<pg::Conn>(db_.pool().uri(), "-c synchronous_commit=off");
    }
    notify_conn_->Run("SELECT pg_notify('mambo_queue', '')");
  } catch (const StoreError& e) {
    // The others find the work at their next poll.
    spdlog::debug("could not notify the other instances: {}", e.what());
  }
}

// A batch in a few statements, whatever its size: the fence for all, the attempts of those that
// passed it, their webhooks' last success; per attempt, only a 410's disable.
std::vector<bool> PgQueueStore::RecordBatch(pg::Conn& c,
                                            const std::vector<const AttemptOutcome*>& batch) {
  pg::Array id, lease_id, status, number, due_at, at, http_status, cause, attempt_id, started_at,
      duration_ms, error, request_headers, response_headers, excerpt, truncated, headers_truncated,
      stat_hour, stat_bucket;
  int64_t last_success = 0;
  for (const AttemptOutcome* o : batch) {
    const DeliveryAttempt& a = o->attempt;
    const int64_t now = a.started_at + a.duration_ms;
    id.Add(a.delivery_id);
    lease_id.Add(o->lease_id);
    status.Add(ToString(o->status));
    number.Add(static_cast<int64_t>(a.number));
    due_at.Add(o->status == DeliveryStatus::kFailed ? o->next_attempt_at : now);
    at.Add(now);
    http_status.Add(a.http_status ? std::optional<int64_t>(*a.http_status) : std::nullopt);
    cause.Add(ToString(a.cause));
    attempt_id.Add(a.id);
    started_at.Add(a.started_at);
    duration_ms.Add(a.duration_ms);
    error.Add(a.error);
    request_headers.Add(DumpJson(Json(a.request_headers)));
    response_headers.Add(DumpJson(Json(a.response_headers)));
    excerpt.AddBytes(a.response_excerpt);
    truncated.Add(a.response_truncated);
    headers_truncated.Add(a.response_headers_truncated);
    stat_hour.Add(HourStart(a.started_at));
    stat_bucket.Add(static_cast<int64_t>(LatencyBucket(a.duration_ms)));
    if (o->status == DeliveryStatus::kSucceeded) last_success = std::max(last_success, now);
  }
  // One statement: the fence (only the holder of the current lease moves the delivery on), the
  // attempts of those that passed it, their statistics, and their webhooks' last success. The
  // statistics rows are taken in key order, so two instances adding to the same rows wait for
  // each other instead of deadlocking. Only auto-disable reads
  // that, in days: a minute's precision spares rewriting the webhook row on every success.
  const pg::Result fenced = c.Run(
      "WITH v AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], "
      "$5::bigint[], $6::bigint[], $7::int[], $8::text[], $9::text[], $10::bigint[], "
      "$11::bigint[], $12::text[], $13::text[], $14::text[], $15::bytea[], $16::boolean[], "
      "$17::boolean[], $18::bigint[], $19::int[]) AS v(id, lease_id, status, number, due_at, at, "
      "http_status, cause, attempt_id, started_at, duration_ms, error, request_headers, "
      "response_headers, excerpt, truncated, headers_truncated, stat_hour, stat_bucket)), "
      "f AS (UPDATE deliveries d SET status = v.status, attempt_count = v.number, "
      "due_at = v.due_at, updated_at = v.at, last_http_status = v.http_status, "
      "last_cause = NULLIF(v.cause, ''), lease_owner = NULL FROM v "
      "WHERE d.id = v.id AND d.status = 'in_flight' AND d.lease_id = v.lease_id "
      "RETURNING d.id, d.webhook_id, d.seq, d.status, d.due_at, d.team_id, d.forced), "
      "a AS (INSERT INTO attempts(id, delivery_id, number, started_at, duration_ms, http_status, "
      "cause, error, request_headers, response_headers, response_excerpt, response_truncated, "
      "response_headers_truncated) SELECT v.attempt_id, v.id, v.number, v.started_at, "
      "v.duration_ms, v.http_status, NULLIF(v.cause, ''), v.error, v.request_headers, "
      "v.response_headers, v.excerpt, v.truncated, v.headers_truncated FROM v JOIN f ON f.id = "
      "v.id), "
      "s AS (INSERT INTO attempt_stats(webhook_id, hour, bucket, succeeded, failed) "
      "SELECT f.webhook_id, v.stat_hour, v.stat_bucket, count(*) FILTER (WHERE f.status = "
      "'succeeded'), count(*) FILTER (WHERE f.status <> 'succeeded') FROM v JOIN f ON f.id = v.id "
      "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 ON CONFLICT (webhook_id, hour, bucket) DO UPDATE SET "
      "succeeded = attempt_stats.succeeded + excluded.succeeded, "
      "failed = attempt_stats.failed + excluded.failed), "
      "w AS (UPDATE webhooks SET last_success_at = $20 WHERE id IN "
      "(SELECT webhook_id FROM f WHERE status = 'succeeded') "
      "AND (last_success_at IS NULL OR last_success_at < $20::bigint - 60000)), " MAMBO_QUEUE_SYNC(
          "f") "SELECT id FROM f",
      {id,
       lease_id,
       status,
       number,
       due_at,
       at,
       http_status,
       cause,
       attempt_id,
       started_at,
       duration_ms,
       error,
       request_headers,
       response_headers,
       excerpt,
       truncated,
       headers_truncated,
       stat_hour,
       stat_bucket,
       last_success});
  std::set<std::string> passed;
  for (int i = 0; i < fenced.rows(); ++i) passed.insert(fenced.Text(i, 0));
  std::vector<bool> recorded(batch.size(), false);
  for (size_t i = 0; i < batch.size(); ++i) {
    recorded[i] = passed.count(batch[i]->attempt.delivery_id) > 0;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (recorded[i] && batch[i]->disable_reason) Disable(c, *batch[i]);
  }
  return recorded;
}

// A 410 Gone: the webhook is disabled with the reason, and "system" audits it.
void PgQueueStore::Disable(pg::Conn& c, const AttemptOutcome& o) {
  const int64_t now = o.attempt.started_at + o.attempt.duration_ms;
  pg::Result r = c.Run("SELECT " MAMBO_WEBHOOK_COLUMNS
                       " FROM webhooks w JOIN deliveries d ON d.webhook_id = w.id "
                       "WHERE d.id = $1 FOR UPDATE OF w",
                       {o.attempt.delivery_id});
  if (r.rows() == 0) return;
  Webhook before = pg::LoadWebhookRow(r, 0, db_.box(), SecretLoad::kPresenceOnly);
  if (!before.active) return;
  Webhook after = before;
  after.active = false;
  after.disabled_reason = o.disable_reason;
  after.updated_at = now;
  c.Run("UPDATE webhooks SET active = false, disabled_reason = $1, updated_at = $2 WHERE id = $3",
        {*o.disable_reason, now, before.id});
  pg::InsertAudit(c, AuditEntry{crypto::NewId("aud", now), before.team_id, "system", now,
                                "webhook.disable", before.id, Json(before), Json(after)});
}

RecordResult PgQueueStore::RecordAttempt(const AttemptOutcome& o) {
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  if (!RecordBatch(*c, {&o}).front()) return RecordResult::kLeaseLost;
  tx.Commit();
  return RecordResult::kRecorded;
}

void PgQueueStore::RecordAttemptAsync(
    AttemptOutcome outcome, std::function<void(const AttemptOutcome&, RecordResult)> done) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) throw StoreError("the store is closing");
    pending_.push_back(Pending{std::move(outcome), std::move(done)});
  }
  cv_.notify_one();
}

// Group commit: the attempts queued while the last batch committed go in one transaction, so
// they share one flush of PostgreSQL's log. A batch that fails is retried one attempt at a time,
// so one bad attempt cannot hold back the others.
namespace {

// How long an attempt whose record found the database unreachable is kept to be recorded: past
// it, its delivery is left to its lease's expiry (sent again), as a stop that cannot wait is.
constexpr auto kKeepUnrecorded = std::chrono::seconds(20);

}  // namespace

void PgQueueStore::RecorderLoop() {
  SetUpThread("pg-recorder", 0);
  constexpr size_t kMaxBatch = 500;
  std::unique_ptr<pg::Conn> conn;  // this thread's own
  for (;;) {
    std::vector<Pending> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping, and everything recorded
      while (!pending_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    std::vector<RecordResult> results(batch.size(), RecordResult::kFailed);
    std::vector<size_t> retry;  // positions in batch, ascending
    try {
      if (!conn || !conn->ok()) {
        conn = std::make_unique<pg::Conn>(db_.pool().uri(), MAMBO_INDEX_PLANS_ONLY);
      }
      pg::Conn* c = conn.get();
      pg::Tx tx(*c);
      std::vector<const AttemptOutcome*> outcomes;
      for (const Pending& p : batch) outcomes.push_back(&p.outcome);
      const std::vector<bool> recorded = RecordBatch(*c, outcomes);
      for (size_t i = 0; i < batch.size(); ++i) {
        results[i] = recorded[i] ? RecordResult::kRecorded : RecordResult::kLeaseLost;
      }
      tx.Commit();
    } catch (const std::exception& e) {
      spdlog::warn("recording {} attempts together failed ({}); recording them one by one",
                   batch.size(), e.what());
      for (size_t i = 0; i < batch.size(); ++i) {
        try {
          results[i] = RecordAttempt(batch[i].outcome);
        } catch (const pg::PgError& one) {
          results[i] = RecordResult::kFailed;
          // The database is unreachable (restarting, failing over): the attempt is kept and
          // recorded once it is back. Dropped, its delivery would stay leased until the lease
          // expired and then go out again.
          const auto now = std::chrono::steady_clock::now();
          if (one.Unreachable() && batch[i].give_up.value_or(now + kKeepUnrecorded) > now) {
            if (!batch[i].give_up) batch[i].give_up = now + kKeepUnrecorded;
            retry.push_back(i);
            continue;
          }
          spdlog::error("could not record attempt {} of delivery {}: {}",
                        batch[i].outcome.attempt.number, batch[i].outcome.attempt.delivery_id,
                        one.what());
        } catch (const std::exception& one) {
          spdlog::error("could not record attempt {} of delivery {}: {}",
                        batch[i].outcome.attempt.number, batch[i].outcome.attempt.delivery_id,
                        one.what());
          results[i] = RecordResult::kFailed;
        }
      }
    }
    std::vector<Pending> kept;
    for (size_t i = 0, r = 0; i < batch.size(); ++i) {
      if (r < retry.size() && retry[r] == i) {
        kept.push_back(std::move(batch[i]));
        ++r;
        continue;
      }
      batch[i].done(batch[i].outcome, results[i]);
    }
    if (kept.empty()) continue;
    std::unique_lock lock(mu_);
    spdlog::warn("database unreachable: {} attempts kept, to be recorded when it is back",
                 kept.size());
    for (auto it = kept.rbegin(); it != kept.rend(); ++it) pending_.push_front(std::move(*it));
    // One look a second; a stop does not wait (what is left is tried once more, then reported).
    cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stopping_; });
    if (stopping_) {
      for (Pending& p : pending_) {
        if (p.give_up) p.give_up = std::chrono::steady_clock::now();
      }
    }
  }
}

void PgQueueStore::ReleaseLeases(const std::vector<LeaseRef>& leases) {
  if (leases.empty()) return;
  pg::Array ids, lease_ids;
  for (const LeaseRef& l : leases) {
    ids.Add(l.delivery_id);
    lease_ids.Add(l.lease_id);
  }
  auto c = db_.pool().Acquire();
  // Back to due-now; attempt_count tells whether it had been tried before.
  c->Run("WITH u AS (UPDATE deliveries d SET status = " MAMBO_REQUEUED_STATUS
         ", due_at = d.updated_at, lease_owner = NULL "
         "FROM unnest($1::text[], $2::bigint[]) AS r(id, lease_id) "
         "WHERE d.id = r.id AND d.lease_id = r.lease_id AND d.status = 'in_flight' "
         "RETURNING d.seq, d.due_at), " MAMBO_QUEUE_DUE("u") "SELECT count(*) FROM u",
         {ids, lease_ids});
}

int64_t PgQueueStore::NextDueAt(const std::vector<std::string>& exclude) {
  auto c = db_.pool().Acquire();
  const pg::Param excluded = pg::Array::Of(exclude);
  // As LeaseDue reads: in due order past a bounded number of excluded rows, then webhook by
  // webhook (the excluded are the engine's full endpoints, whose backlogs may be long).
  pg::Result r = c->Run(
      "WITH win AS MATERIALIZED (SELECT webhook_id, forced, due_at FROM queue "
      "ORDER BY due_at LIMIT " MAMBO_STRING(MAMBO_PASS_OVER)
      ") "
      "SELECT (SELECT q.due_at FROM win q JOIN webhooks w ON w.id = q.webhook_id "
      "WHERE (w.active OR q.forced) AND q.webhook_id <> ALL($1::text[]) "
      "ORDER BY q.due_at LIMIT 1), (SELECT count(*) FROM win)",
      {excluded});
  if (!r.IsNull(0, 0)) return r.Int(0, 0);
  if (r.Int(0, 1) < MAMBO_PASS_OVER) return 0;  // nothing else queued
  r = c->Run(MAMBO_QUEUED_WEBHOOKS
             "SELECT min(due_at) FROM ("
             "SELECT (SELECT q.due_at FROM queue q WHERE q.webhook_id = ids.id "
             "ORDER BY q.due_at LIMIT 1) AS due_at FROM ids "
             "JOIN webhooks w ON w.id = ids.id AND w.active WHERE ids.id <> ALL($1::text[]) "
             "UNION ALL (SELECT q.due_at FROM queue q JOIN webhooks w ON w.id = q.webhook_id "
             "AND NOT w.active WHERE q.forced AND q.webhook_id <> ALL($1::text[]) "
             "ORDER BY q.due_at LIMIT 1)) AS heads",
             {excluded});
  return r.IsNull(0, 0) ? 0 : r.Int(0, 0);
}

QueueStore::CancelResult PgQueueStore::CancelDelivery(const std::string& team_id,
                                                      const std::string& id, int64_t now) {
  auto c = db_.pool().Acquire();
  // Cancelled rows leave the queue with the status change (MAMBO_QUEUE_SYNC).
  if (c->Run("WITH u AS (UPDATE deliveries SET status = 'cancelled', updated_at = $1 "
             "WHERE id = $2 AND team_id = $3 AND status IN ('pending', 'failed') "
             "RETURNING seq, status, due_at, webhook_id, team_id, forced), " MAMBO_QUEUE_SYNC(
                 "u") "SELECT count(*) FROM u",
             {now, id, team_id})
          .Int(0, 0) > 0) {
    return CancelResult::kCancelled;
  }
  const pg::Result r =
      c->Run("SELECT status FROM deliveries WHERE id = $1 AND team_id = $2", {id, team_id});
  if (r.rows() == 0) return CancelResult::kNotFound;
  return r.Text(0, 0) == "in_flight" ? CancelResult::kInFlight : CancelResult::kAlreadyFinal;
}

int64_t PgQueueStore::CancelPending(const std::string& team_id, const std::string& webhook_id,
                                    int64_t now) {
  auto c = db_.pool().Acquire();
  return c
      ->Run(
          "WITH u AS (UPDATE deliveries SET status = 'cancelled', updated_at = $1 "
          "WHERE webhook_id = $2 AND team_id = $3 AND status IN ('pending', 'failed') "
          "RETURNING seq, status, due_at, webhook_id, team_id, forced), " MAMBO_QUEUE_SYNC(
              "u") "SELECT count(*) FROM u",
          {now, webhook_id, team_id})
      .Int(0, 0);
}

bool PgQueueStore::ResendDelivery(const std::string& team_id, const std::string& id, int64_t now) {
  auto c = db_.pool().Acquire();
  // An in-flight delivery is being sent right now: leave it alone (its attempt is recorded).
  return c->Run("WITH u AS (UPDATE deliveries SET status = " MAMBO_REQUEUED_STATUS
                ", due_at = $1, updated_at = $1 WHERE id = $2 AND team_id = $3 "
                "AND status <> 'in_flight' "
                "RETURNING seq, status, due_at, webhook_id, team_id, forced), " MAMBO_QUEUE_SYNC(
                    "u") "SELECT count(*) FROM u",
                {now, id, team_id})
             .Int(0, 0) > 0;
}

int64_t PgQueueStore::RecoverDeliveries(const std::string& team_id, const std::string& webhook_id,
                                        int64_t since, int64_t now) {
  auto c = db_.pool().Acquire();
  return c
      ->Run(
          "WITH u AS (UPDATE deliveries SET status = 'failed', due_at = $1, updated_at = $1 "
          "WHERE webhook_id = $2 AND team_id = $3 AND created_at >= $4 "
          "AND status IN ('failed', 'exhausted') "
          "RETURNING seq, status, due_at, webhook_id, team_id, forced), " MAMBO_QUEUE_SYNC(
              "u") "SELECT count(*) FROM u",
          {now, webhook_id, team_id, since})
      .Int(0, 0);
}

QueueStats PgQueueStore::Stats() {
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run(
      "SELECT d.status, count(*), min(d.due_at) FROM queue q JOIN deliveries d ON d.seq = q.seq "
      "GROUP BY d.status");
  QueueStats s;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string status = r.Text(i, 0);
    const int64_t n = r.Int(i, 1);
    if (status == "pending" || status == "failed") {
      s.pending += n;
      const int64_t due = r.Int(i, 2);
      if (s.oldest_due_at == 0 || due < s.oldest_due_at) s.oldest_due_at = due;
      if (status == "failed") s.failed = n;
    } else {
      s.in_flight = n;
    }
  }
  return s;
}

int64_t PgQueueStore::ReclaimExpiredLeases(int64_t now) {
  auto c = db_.pool().Acquire();
  return c
      ->Run("WITH u AS (UPDATE deliveries SET status = " MAMBO_REQUEUED_STATUS
            ", due_at = $1, lease_owner = NULL WHERE seq IN (SELECT seq FROM queue WHERE "
            "due_at <= $1) AND status = 'in_flight' AND due_at <= $1 RETURNING seq, "
            "due_at), " MAMBO_QUEUE_DUE("u") "SELECT count(*) FROM u",
            {now})
      .Int(0, 0);
}

}  // namespace mambo::store
