#include "store/pg_store.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <iterator>
#include <set>

#include "util/thread.h"

namespace mambo::store {
namespace {

// Any fixed number: every webhookd migrating this database takes the same session lock.
constexpr int64_t kMigrationLock = 0x6d616d626f01;  // "mambo" 01

// Versioned schema: migration i brings the database from version i to i + 1. Append only.
// The same model as the SQLite schema (sqlite_store.cpp), in PostgreSQL's types, plus what
// several instances need: each delivery's lease owner and a lease id that fences it.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE teams (
  id TEXT PRIMARY KEY,
  created_at BIGINT NOT NULL
);
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id),
  role TEXT NOT NULL CHECK (role IN ('admin', 'ingest')),
  token_hash BYTEA NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE TABLE webhooks (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  team_id TEXT NOT NULL REFERENCES teams(id),
  url TEXT NOT NULL,
  events TEXT NOT NULL,              -- JSON array of event type ids
  secret_enc BYTEA,                  -- AES-256-GCM sealed, bound to id
  prev_secret_enc BYTEA,             -- rotated-out secret, still signing until prev_valid_until
  prev_valid_until BIGINT,
  active BOOLEAN NOT NULL,
  description TEXT,
  disabled_reason TEXT,
  last_success_at BIGINT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX webhooks_team ON webhooks(team_id, seq);
CREATE TABLE events (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL,
  team_id TEXT NOT NULL REFERENCES teams(id),
  type TEXT NOT NULL,
  timestamp BIGINT NOT NULL,
  data TEXT NOT NULL,
  UNIQUE (team_id, id)
);
CREATE TABLE deliveries (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  team_id TEXT NOT NULL,
  event_seq BIGINT NOT NULL REFERENCES events(seq),
  status TEXT NOT NULL,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  due_at BIGINT NOT NULL,            -- next attempt (pending/failed) or lease expiry (in_flight)
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_http_status INTEGER,
  last_cause TEXT,
  lease_owner TEXT,                  -- the instance holding it (in_flight)
  lease_id BIGINT                    -- new at every lease: an attempt is recorded only under it
);
CREATE INDEX deliveries_due ON deliveries(due_at, webhook_id)
  WHERE status IN ('pending', 'failed', 'in_flight');
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, seq);
CREATE INDEX deliveries_event ON deliveries(event_seq);
CREATE SEQUENCE lease_ids;
CREATE TABLE attempts (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  started_at BIGINT NOT NULL,
  duration_ms BIGINT NOT NULL,
  http_status INTEGER,
  cause TEXT,
  error TEXT NOT NULL,
  request_headers TEXT NOT NULL,
  response_headers TEXT NOT NULL,
  response_headers_truncated BOOLEAN NOT NULL DEFAULT false,
  response_excerpt BYTEA NOT NULL,   -- valid UTF-8, but may hold NUL, which TEXT refuses
  response_truncated BOOLEAN NOT NULL
);
CREATE INDEX attempts_delivery ON attempts(delivery_id, number);
CREATE TABLE audit_log (
  seq BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  team_id TEXT NOT NULL,
  actor TEXT NOT NULL,
  at BIGINT NOT NULL,
  action TEXT NOT NULL,
  target_id TEXT NOT NULL,
  before TEXT,
  after TEXT
);
CREATE INDEX audit_team ON audit_log(team_id, seq);
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value BYTEA NOT NULL
);
-- Counters other instances watch: "tokens" changes with every token created or revoked.
CREATE TABLE stamps (
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);
INSERT INTO stamps(name, value) VALUES ('tokens', 0);
)sql",
    // Test deliveries go out even to a disabled webhook: a column of their own, so the lease
    // query needs no join with events (it read the event of every row it looked at).
    R"sql(
ALTER TABLE deliveries ADD COLUMN forced BOOLEAN NOT NULL DEFAULT false;
UPDATE deliveries d SET forced = true FROM events e
  WHERE e.seq = d.event_seq AND e.type = 'webhook.test';
)sql",
    // Live work gets a table of its own. The partial index deliveries_due churned: every lease
    // and every attempt moved a delivery in it, so each of the two updates wrote all five
    // indexes of deliveries again (no HOT update), the index filled with dead entries faster
    // than autovacuum came, and the planner, which cannot see them, chose bitmap scans that
    // walked tens of thousands of them per lease (auto_explain: 8 ms per lease of 25 rows).
    // Now deliveries has no index on status or due_at, so those updates are HOT (in place, no
    // index writes; fillfactor leaves room on the page), and `queue` holds one small row per
    // pending, failed or in-flight delivery, indexed by due time, kept by a row trigger here
    // (by the writers themselves since schema 5). The deliveries row stays the truth (the lease
    // and the fence check its status and lease id); queue only says where to look.
    R"sql(
CREATE TABLE queue (
  seq BIGINT PRIMARY KEY,            -- deliveries.seq
  due_at BIGINT NOT NULL,            -- deliveries.due_at
  webhook_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  forced BOOLEAN NOT NULL
) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000,
        autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = 2000);
CREATE INDEX queue_due ON queue(due_at);
INSERT INTO queue(seq, due_at, webhook_id, team_id, forced)
  SELECT seq, due_at, webhook_id, team_id, forced FROM deliveries
  WHERE status IN ('pending', 'failed', 'in_flight');
DROP INDEX deliveries_due;
ALTER TABLE deliveries SET (fillfactor = 80);

-- A row trigger: each statement in it finds its row by primary key. Statement triggers over
-- transition tables were tried: their generic plans could not see how many rows the table
-- held, and joined or upserted through all of queue (leases of 17-21 ms).
CREATE FUNCTION queue_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status IN ('pending', 'failed', 'in_flight') THEN
      DELETE FROM queue WHERE seq = OLD.seq;
    END IF;
    RETURN NULL;
  END IF;
  IF NEW.status IN ('pending', 'failed', 'in_flight') THEN
    IF TG_OP = 'INSERT' OR OLD.status NOT IN ('pending', 'failed', 'in_flight') THEN
      INSERT INTO queue(seq, due_at, webhook_id, team_id, forced)
        VALUES (NEW.seq, NEW.due_at, NEW.webhook_id, NEW.team_id, NEW.forced);
    ELSIF OLD.due_at <> NEW.due_at THEN
      UPDATE queue SET due_at = NEW.due_at WHERE seq = NEW.seq;
    END IF;
  ELSIF TG_OP = 'UPDATE' AND OLD.status IN ('pending', 'failed', 'in_flight') THEN
    DELETE FROM queue WHERE seq = NEW.seq;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER deliveries_queue AFTER INSERT OR DELETE OR UPDATE OF status, due_at
  ON deliveries FOR EACH ROW EXECUTE FUNCTION queue_sync();
)sql",
    // A lease reads due rows in due order and passes over those of webhooks without room (an
    // endpoint at its cap, a slow receiver's backlog): behind a long such backlog that read grew
    // with the backlog (auto_explain: 16,163 rows passed over, 7.5 ms, at every lease, and
    // throughput fell as the backlog grew). These indexes let the lease visit each webhook's
    // due rows on their own instead (and the forced ones of disabled webhooks).
    R"sql(
CREATE INDEX queue_webhook ON queue(webhook_id, due_at);
CREATE INDEX queue_forced ON queue(due_at) WHERE forced;
)sql",
    // The statements that write deliveries keep queue themselves (in the same statement, as
    // data-modifying CTEs): perf showed the row trigger's PL/pgSQL, one interpreted call and
    // one SPI statement per row, at 16% of PostgreSQL's CPU during the delivery benchmark.
    // The conformance suite checks after every test that queue mirrors deliveries exactly.
    R"sql(
DROP TRIGGER deliveries_queue ON deliveries;
DROP FUNCTION queue_sync();
)sql",
    // Foreign keys the writers already guarantee, dropped: each checked every inserted row
    // with a query of its own (perf: 8% of PostgreSQL's CPU in the delivery benchmark). An
    // event and its deliveries are inserted by one statement, a team before its events in the
    // same one, and an attempt only for a delivery its statement has just locked and moved on;
    // what deletes deliveries (retention, a webhook's deletion) deletes their attempts itself.
    // The conformance suite checks after every test that no row lost its parent. attempts.seq
    // goes too (one index less per attempt); the id is the key.
    R"sql(
ALTER TABLE attempts DROP CONSTRAINT attempts_delivery_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_event_seq_fkey;
ALTER TABLE events DROP CONSTRAINT events_team_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_pkey, DROP COLUMN seq,
  DROP CONSTRAINT attempts_id_key, ADD PRIMARY KEY (id);
)sql",
    // The team's event log (GET /events), newest first, by type or not.
    R"sql(
CREATE INDEX events_team ON events(team_id, seq);
CREATE INDEX events_team_type ON events(team_id, type, seq);
)sql",
    // A webhook's optional rate limit (requests a second per instance).
    R"sql(
ALTER TABLE webhooks ADD COLUMN rate_limit_per_second INTEGER;
)sql",
    // A webhook's custom headers, sealed like its secret (sql_common.h: SealHeaders).
    R"sql(
ALTER TABLE webhooks ADD COLUMN headers_enc BYTEA;
)sql",
    // Every rotated-out secret signs until its own expiry (a second rotation used to cut off
    // the first one's grace period): one row each, sealed as secret_enc was (bound to the
    // webhook id). webhooks.prev_valid_until is now the latest of their expiries, so the lease
    // looks here only while one still signs; prev_secret_enc is no longer used.
    // reenabled_at: when the webhook was last switched on; the auto-disable window starts there.
    R"sql(
CREATE TABLE previous_secrets (
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  secret_enc BYTEA NOT NULL,
  valid_until BIGINT NOT NULL
);
CREATE INDEX previous_secrets_webhook ON previous_secrets(webhook_id, valid_until);
INSERT INTO previous_secrets (webhook_id, secret_enc, valid_until)
  SELECT id, prev_secret_enc, prev_valid_until FROM webhooks
  WHERE prev_secret_enc IS NOT NULL AND prev_valid_until IS NOT NULL;
UPDATE webhooks SET prev_secret_enc = NULL WHERE prev_secret_enc IS NOT NULL;
ALTER TABLE webhooks ADD COLUMN reenabled_at BIGINT;
)sql",
    // Tokens managed through the API: a viewer role, a description, an expiry and when each
    // was last used.
    R"sql(
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
  CHECK (role IN ('admin', 'viewer', 'ingest'));
ALTER TABLE api_tokens ADD COLUMN description TEXT NOT NULL DEFAULT '',
  ADD COLUMN expires_at BIGINT, ADD COLUMN last_used_at BIGINT;
CREATE INDEX api_tokens_team ON api_tokens(team_id, created_at);
)sql",
    // What the last operational notice about a webhook said ('failing', 'disabled') and when.
    R"sql(
ALTER TABLE webhooks ADD COLUMN notice_state TEXT, ADD COLUMN notice_at BIGINT;
)sql",
    // Statistics, kept as attempts are recorded (attempt_stats.h): one row per webhook, hour
    // and duration bucket. Attempts recorded before this version are not counted.
    R"sql(
CREATE TABLE attempt_stats (
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  hour BIGINT NOT NULL,
  bucket INT NOT NULL,
  succeeded BIGINT NOT NULL,
  failed BIGINT NOT NULL,
  PRIMARY KEY (webhook_id, hour, bucket)
);
)sql",
};

// Holds the migration lock for its lifetime (a session lock: it also ends with the connection).
class MigrationLock {
 public:
  explicit MigrationLock(pg::Conn& c) : c_(c) {
    c_.Run("SELECT pg_advisory_lock($1)", {kMigrationLock});
  }
  ~MigrationLock() {
    try {
      c_.Run("SELECT pg_advisory_unlock($1)", {kMigrationLock});
    } catch (const StoreError&) {
      // The connection is gone, and the lock with it.
    }
  }

 private:
  pg::Conn& c_;
};

}  // namespace

int64_t PgDatabase::SchemaVersion() {
  return static_cast<int64_t>(std::size(kMigrations));
}

PgDatabase::PgDatabase(const std::string& uri, crypto::SecretBox box, Options options)
    : pool_(uri, options.pool_size), box_(std::move(box)) {
  pg::Pool::Lease c = pool_.Acquire();
  Migrate(*c);
  CheckMainKey(*c);
}

void PgDatabase::Migrate(pg::Conn& c) {
  MigrationLock lock(c);
  c.Exec("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)");
  pg::Result r = c.Run("SELECT version FROM schema_version");
  int64_t version = r.rows() > 0 ? r.Int(0, 0) : 0;
  if (r.rows() == 0) c.Run("INSERT INTO schema_version(version) VALUES (0)");
  const int64_t target = SchemaVersion();
  if (version > target) {
    throw StoreError("the database has schema version " + std::to_string(version) +
                     ", newer than this webhookd knows (" + std::to_string(target) +
                     "): run the newer webhookd, or restore a backup");
  }
  for (; version < target; ++version) {
    pg::Tx tx(c);
    c.Exec(kMigrations[version]);
    c.Run("UPDATE schema_version SET version = $1", {version + 1});
    tx.Commit();
    spdlog::info("database migrated to schema version {}", version + 1);
  }
}

void PgDatabase::CheckMainKey(pg::Conn& c) {
  // A sealed marker proves the main key is the one the secrets were sealed with: a wrong key
  // stops webhookd at start instead of failing every delivery later. Every instance sharing
  // the database needs the same key (--master-key-file).
  static constexpr std::string_view kMarker = "mambo-webhooks main key check";
  c.Run("INSERT INTO meta(key, value) VALUES ('main_key_check', $1) ON CONFLICT (key) DO NOTHING",
        {pg::Param::Bytes(box_.Seal(kMarker, "meta"))});
  pg::Result r = c.Run("SELECT value FROM meta WHERE key = 'main_key_check'");
  if (r.rows() != 1 || box_.Open(r.Bytes(0, 0), "meta") != std::optional<std::string>(kMarker)) {
    throw StoreError(
        "the main key does not match the one this database was created with: every webhookd "
        "sharing a database needs the same --master-key-file");
  }
}

bool PgDatabase::Healthy() {
  try {
    auto c = pool_.Acquire();
    return c->Run("SELECT 1").rows() == 1;
  } catch (const StoreError&) {
    return false;
  }
}

PgListener::~PgListener() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void PgListener::On(std::string channel, std::function<void()> fn) {
  callbacks_.emplace_back(std::move(channel), std::move(fn));
}

void PgListener::Start() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { Loop(); });
}

void PgListener::RunAll() {
  for (auto& [channel, fn] : callbacks_) fn();
}

void PgListener::Loop() {
  SetUpThread("pg-listen", 0);
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(nullptr, &PQfinish);
  auto next_tick = std::chrono::steady_clock::now() + tick_;
  bool was_lost = false;
  while (!stop_) {
    if (!conn) {
      conn.reset(PQconnectdb(uri_.c_str()));
      bool ok = PQstatus(conn.get()) == CONNECTION_OK;
      for (size_t i = 0; ok && i < callbacks_.size(); ++i) {
        // Channel names are this program's own identifiers: nothing to quote.
        PGresult* r = PQexec(conn.get(), ("LISTEN " + callbacks_[i].first).c_str());
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
      }
      if (!ok) {
        conn.reset();
        if (!was_lost) spdlog::warn("database notifications unavailable; retrying every second");
        was_lost = true;
        pollfd wake{wake_fd_, POLLIN, 0};
        ::poll(&wake, 1, 1000);
        continue;
      }
      if (was_lost) spdlog::info("database notifications back");
      was_lost = false;
      RunAll();  // whatever was announced while no one listened
    }
    const auto now = std::chrono::steady_clock::now();
    const int timeout = static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(next_tick - now).count()));
    pollfd fds[2] = {{PQsocket(conn.get()), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    ::poll(fds, 2, timeout);
    if (stop_) break;
    if (fds[0].revents != 0) {
      if (PQconsumeInput(conn.get()) == 0) {
        conn.reset();  // the server went away: reconnect, then run everything once
        continue;
      }
      std::set<std::string> fired;
      while (PGnotify* n = PQnotifies(conn.get())) {
        fired.insert(n->relname);
        PQfreemem(n);
      }
      for (auto& [channel, fn] : callbacks_) {
        if (fired.count(channel) > 0) fn();
      }
    }
    if (std::chrono::steady_clock::now() >= next_tick) {
      RunAll();
      next_tick = std::chrono::steady_clock::now() + tick_;
    }
  }
}

bool PgJobLocks::RunExclusive(std::string_view job, const std::function<void()>& fn) {
  // FNV-1a: the same key for a job name in every build and on every machine.
  uint64_t hash = 14695981039346656037ull;
  for (const char ch : job) hash = (hash ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  const int64_t key = static_cast<int64_t>(hash >> 1);
  auto c = db_.pool().Acquire();
  if (!c->Run("SELECT pg_try_advisory_lock($1)", {key}).Bool(0, 0)) return false;
  struct Unlock {
    pg::Conn& c;
    int64_t key;
    ~Unlock() {
      try {
        c.Run("SELECT pg_advisory_unlock($1)", {key});
      } catch (const StoreError&) {
        // The connection broke: the server released the lock with the session.
      }
    }
  } unlock{*c, key};
  fn();
  return true;
}

}  // namespace mambo::store
