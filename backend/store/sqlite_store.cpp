#include "store/sqlite_store.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "mambo/text.h"
#include "mambo/validation.h"
#include "store/sql_common.h"
#include "util/thread.h"

namespace mambo::store {
namespace {

// Versioned schema: migration i brings the database from user_version i to i + 1. Append only.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE teams (
  id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);
CREATE TABLE api_tokens (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id),
  role TEXT NOT NULL CHECK (role IN ('admin', 'ingest')),
  token_hash BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE TABLE webhooks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  team_id TEXT NOT NULL REFERENCES teams(id),
  url TEXT NOT NULL,
  events TEXT NOT NULL,              -- JSON array of event type ids
  secret_enc BLOB,                   -- AES-256-GCM sealed, bound to id
  prev_secret_enc BLOB,              -- rotated-out secret, still signing until prev_valid_until
  prev_valid_until INTEGER,
  active INTEGER NOT NULL,
  description TEXT,
  disabled_reason TEXT,
  last_success_at INTEGER,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX webhooks_team ON webhooks(team_id, seq);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  team_id TEXT NOT NULL REFERENCES teams(id),
  type TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  data TEXT NOT NULL,
  UNIQUE (team_id, id)
);
CREATE TABLE deliveries (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  team_id TEXT NOT NULL,
  event_seq INTEGER NOT NULL REFERENCES events(seq),
  status TEXT NOT NULL,
  attempt_count INTEGER NOT NULL DEFAULT 0,
  due_at INTEGER NOT NULL,           -- next attempt (pending/failed) or lease expiry (in_flight)
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_http_status INTEGER,
  last_cause TEXT
);
CREATE INDEX deliveries_due ON deliveries(due_at) WHERE status IN ('pending', 'failed', 'in_flight');
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, seq);
CREATE INDEX deliveries_event ON deliveries(event_seq);
CREATE TABLE attempts (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  started_at INTEGER NOT NULL,
  duration_ms INTEGER NOT NULL,
  http_status INTEGER,
  cause TEXT,
  error TEXT NOT NULL,
  request_headers TEXT NOT NULL,
  response_headers TEXT NOT NULL,
  response_excerpt BLOB NOT NULL,
  response_truncated INTEGER NOT NULL
);
CREATE INDEX attempts_delivery ON attempts(delivery_id, number);
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  team_id TEXT NOT NULL,
  actor TEXT NOT NULL,
  at INTEGER NOT NULL,
  action TEXT NOT NULL,
  target_id TEXT NOT NULL,
  before TEXT,
  after TEXT
);
CREATE INDEX audit_team ON audit_log(team_id, seq);
CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
)sql",
    // The lease query passes over the queued rows of webhooks without room (LeaseDue); with
    // webhook_id in the index it does so from the index alone, without reading the row: that
    // was ~700 row reads per lease in delivery_bench.
    R"sql(
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries(due_at, webhook_id)
  WHERE status IN ('pending', 'failed', 'in_flight');
)sql",
    // A receiver's response headers are stored up to a bound; this says when some were dropped.
    R"sql(
ALTER TABLE attempts ADD COLUMN response_headers_truncated INTEGER NOT NULL DEFAULT 0;
)sql",
    // Each lease of a delivery gets a new id, and its attempt is recorded only under it.
    R"sql(
ALTER TABLE deliveries ADD COLUMN lease_id INTEGER;
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
ALTER TABLE webhooks ADD COLUMN headers_enc BLOB;
)sql",
    // Every rotated-out secret signs until its own expiry (a second rotation used to cut off
    // the first one's grace period): one row each, sealed as secret_enc was (bound to the
    // webhook id). webhooks.prev_valid_until is now the latest of their expiries, so the lease
    // looks here only while one still signs; prev_secret_enc is no longer used.
    // reenabled_at: when the webhook was last switched on; the auto-disable window starts there.
    R"sql(
CREATE TABLE previous_secrets (
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  secret_enc BLOB NOT NULL,
  valid_until INTEGER NOT NULL
);
CREATE INDEX previous_secrets_webhook ON previous_secrets(webhook_id, valid_until);
INSERT INTO previous_secrets (webhook_id, secret_enc, valid_until)
  SELECT id, prev_secret_enc, prev_valid_until FROM webhooks
  WHERE prev_secret_enc IS NOT NULL AND prev_valid_until IS NOT NULL;
UPDATE webhooks SET prev_secret_enc = NULL;
ALTER TABLE webhooks ADD COLUMN reenabled_at INTEGER;
)sql",
    // Tokens managed through the API: a viewer role, a description, an expiry and when each
    // was last used. SQLite cannot change a CHECK constraint in place: the table is made again.
    R"sql(
CREATE TABLE api_tokens_new (
  id TEXT PRIMARY KEY,
  team_id TEXT NOT NULL REFERENCES teams(id),
  role TEXT NOT NULL CHECK (role IN ('admin', 'viewer', 'ingest')),
  token_hash BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  description TEXT NOT NULL DEFAULT '',
  expires_at INTEGER,
  last_used_at INTEGER
);
INSERT INTO api_tokens_new (id, team_id, role, token_hash, created_at, revoked_at)
  SELECT id, team_id, role, token_hash, created_at, revoked_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE INDEX api_tokens_team ON api_tokens(team_id, created_at);
)sql",
    // What the last operational notice about a webhook said ('failing', 'disabled') and when.
    R"sql(
ALTER TABLE webhooks ADD COLUMN notice_state TEXT;
ALTER TABLE webhooks ADD COLUMN notice_at INTEGER;
)sql",
    // Statistics, kept as attempts are recorded (attempt_stats.h): one row per webhook, hour
    // and duration bucket. Attempts recorded before this version are not counted.
    R"sql(
CREATE TABLE attempt_stats (
  webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
  hour INTEGER NOT NULL,
  bucket INTEGER NOT NULL,
  succeeded INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  PRIMARY KEY (webhook_id, hour, bucket)
) WITHOUT ROWID;
)sql",
};

constexpr size_t kMaxBatch = 2000;
constexpr int kWriterNice = -10;
}  // namespace

SqliteStore::SqliteStore(const std::string& data_dir, crypto::SecretBox box, Options options)
    : tokens_marker_(data_dir + "/tokens.changed"),
      path_(data_dir + "/webhookd.db"),
      box_(std::move(box)),
      options_(options) {
  if (::mkdir(data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw StoreError("cannot create data dir " + data_dir + ": " + std::strerror(errno));
  }
  // The database holds sealed secrets, token hashes and every payload: owner only, whatever the
  // umask. SQLite gives the -wal and -shm files the database file's mode, so the file is made
  // (or corrected, for a data dir from before) here, before SQLite opens it.
  if (const int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600); fd >= 0) {
    ::fchmod(fd, 0600);
    ::close(fd);
  }
  for (const char* suffix : {"-wal", "-shm"}) ::chmod((path_ + suffix).c_str(), 0600);
  writer_db_ = std::make_unique<Db>(path_, false);
  Db& db = *writer_db_;
  db.Exec("PRAGMA journal_mode=WAL");
  // FULL: a commit is on disk before the API answers (events accepted are never lost).
  db.Exec("PRAGMA synchronous=FULL");
  // The writer wraps every job in a SAVEPOINT. With temp files on disk SQLite spills that
  // savepoint journal to a deleted file under /var/tmp and, once spilled, never truncates it
  // within the transaction: each page a job touches costs a pwrite. In memory it is truncated
  // at every RELEASE. Durability is unaffected (that is the WAL's job). Measured with
  // bench/api_bench.sh: writer CPU per ingested event 0.34-0.37 ms -> 0.25-0.29 ms.
  db.Exec("PRAGMA temp_store=MEMORY");
  // Checkpoints run on their own thread (CheckpointLoop), so a commit does not wait for the
  // WAL to be copied into the database file. That thread cannot start the log over while
  // commits keep coming, though (the log restarts only at a transaction that finds every page
  // copied): when the log gets long, the writer finishes the job (WriterLoop).
  db.Exec("PRAGMA wal_autocheckpoint=0");
  db.Exec("PRAGMA journal_size_limit=67108864");
  // The writer touches the queue's index and the newest pages of every table all the time;
  // with SQLite's default 2 MB cache those pages were read again (pread) on most leases.
  // Pages are allocated as used: a small database costs nothing more.
  db.Exec("PRAGMA cache_size=-32768");
  int64_t version = 0;
  {
    Query q(db, "PRAGMA user_version");
    if (q.Step()) version = q.Int(0);
  }
  const int64_t target = static_cast<int64_t>(std::size(kMigrations));
  if (version > target) {
    throw StoreError("database " + path_ + " has schema version " + std::to_string(version) +
                     ", newer than this webhookd knows (" + std::to_string(target) + ")");
  }
  for (int64_t v = version; v < target; ++v) {
    db.Exec("BEGIN IMMEDIATE");
    try {
      db.Exec(kMigrations[v]);
      db.Exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
      db.Exec("COMMIT");
    } catch (...) {
      db.Exec("ROLLBACK");
      throw;
    }
  }
  CheckMainKey(db);
  {
    Query q(db, "SELECT COALESCE(MAX(lease_id), 0) FROM deliveries");
    if (q.Step()) next_lease_id_ = q.Int(0) + 1;
  }
  // Only this connection changes webhooks (the token CLI writes tokens and teams alone).
  sqlite3_update_hook(db.raw(), &SqliteStore::OnWriterRowChange, this);
  // Not SQLITE_DETERMINISTIC: its answer changes between rows of one query (see LeaseDue).
  if (sqlite3_create_function(db.raw(), "lease_has_room", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, this,
                              &SqliteStore::LeaseHasRoom, nullptr, nullptr) != SQLITE_OK) {
    throw StoreError(std::string("cannot register lease_has_room: ") + sqlite3_errmsg(db.raw()));
  }
  if (sqlite3_create_function(db.raw(), "lease_team_has_room", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY,
                              this, &SqliteStore::LeaseTeamHasRoom, nullptr,
                              nullptr) != SQLITE_OK) {
    throw StoreError(std::string("cannot register lease_team_has_room: ") +
                     sqlite3_errmsg(db.raw()));
  }
  writer_ = std::thread([this] { WriterLoop(); });
  checkpointer_ = std::thread([this] { CheckpointLoop(); });
}

void SqliteStore::CheckpointLoop() {
  SetUpThread("checkpointer", 0);
  Db db(path_, false);
  // A connection finds out the database is in WAL mode when it first reads it; until then a
  // checkpoint through it is a no-op that reports success (and -1 frames). Without this read
  // the log grew for as long as webhookd ran (367 MB in a 15 s benchmark).
  Query(db, "SELECT count(*) FROM sqlite_master").Step();
  std::unique_lock lock(write_mu_);
  bool warned = false;
  while (!stopping_) {
    checkpoint_cv_.wait_for(lock, std::chrono::milliseconds(options_.checkpoint_every_ms));
    if (stopping_) break;
    lock.unlock();
    // PASSIVE copies what it can without blocking the writer or readers.
    int wal_frames = 0, copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(db.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                             &wal_frames, &copied);
    if (rc == SQLITE_OK) {
      wal_frames_.store(wal_frames);
      wal_checkpointed_.store(copied);
      // Right after this checkpoint little is left to copy: the writer's next commit copies it
      // and the log starts over. (Asked at any other time, the writer copied up to a round's
      // worth of commits on its own thread: the API's ingest p99 went from ~9 to ~16 ms.)
      if (wal_frames > options_.wal_restart_frames) restart_wanted_.store(true);
      warned = false;
    } else if (rc != SQLITE_BUSY && !warned) {
      spdlog::warn("WAL checkpoint failed: {} (the log grows until one succeeds)",
                   sqlite3_errmsg(db.raw()));
      warned = true;
    }
    lock.lock();
  }
}

void SqliteStore::CheckMainKey(Db& db) {
  // A sealed marker proves the main key is the one the secrets were sealed with: a wrong key
  // stops webhookd at start instead of failing every delivery later.
  static constexpr std::string_view kMarker = "mambo-webhooks main key check";
  Query q(db, "SELECT value FROM meta WHERE key = 'main_key_check'");
  if (q.Step()) {
    if (box_.Open(q.Text(0), "meta") != std::optional<std::string>(kMarker)) {
      throw StoreError(
          "the main key does not match the one this data dir was created with "
          "(wrong main key? see --master-key-file)");
    }
    return;
  }
  Query(db, "INSERT INTO meta(key, value) VALUES ('main_key_check', ?)")
      .BindBlob(1, box_.Seal(kMarker, "meta"))
      .Run();
}

SqliteStore::~SqliteStore() {
  {
    std::lock_guard lock(write_mu_);
    stopping_ = true;
  }
  write_cv_.notify_all();
  checkpoint_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  if (checkpointer_.joinable()) checkpointer_.join();
  read_pool_.clear();
  writer_db_.reset();
}

void SqliteStore::Write(std::function<void(Db&)> fn, Durability durability) {
  std::future<void> done;
  {
    std::lock_guard lock(write_mu_);
    if (stopping_) throw StoreError("store is closing");
    write_queue_.push_back(
        WriteJob{std::move(fn), {}, {}, durability == Durability::kBeforeCommit});
    done = write_queue_.back().done.get_future();
  }
  write_cv_.notify_one();
  done.get();
}

void SqliteStore::WriterLoop() {
  // Every write in the process waits on this one thread, and it shares the CPUs with dozens of
  // API threads and the sender: ahead of them, a commit cycle is not stretched by waiting for a
  // core (measured: end-to-end deliveries 4,600-4,700/s -> 5,200-5,300/s on 2 cores). Needs
  // CAP_SYS_NICE or RLIMIT_NICE >= 30 (systemd: LimitNICE=-10); without, it stays at 0.
  if (const std::string error = SetUpThread("store-writer", kWriterNice); !error.empty()) {
    spdlog::info("store writer runs at normal priority (nice {} refused: {})", kWriterNice, error);
  }
  Db& db = *writer_db_;
  std::vector<WriteJob> batch;
  for (;;) {
    {
      std::unique_lock lock(write_mu_);
      write_cv_.wait(lock, [&] { return stopping_ || !write_queue_.empty(); });
      if (write_queue_.empty() && stopping_) return;
      while (!write_queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(write_queue_.front()));
        write_queue_.pop_front();
      }
    }
    std::vector<std::exception_ptr> errors(batch.size());
    std::exception_ptr commit_error;
    try {
      // Prepared once and reused: at thousands of jobs a second, parsing these is measurable.
      Query(db, "BEGIN IMMEDIATE").Run();
      for (size_t i = 0; i < batch.size(); ++i) {
        Query(db, "SAVEPOINT job").Run();
        try {
          batch[i].fn(db);
          Query(db, "RELEASE job").Run();
        } catch (...) {
          errors[i] = std::current_exception();
          Query(db, "ROLLBACK TO job").Run();
          Query(db, "RELEASE job").Run();
          subscribers_.clear();  // it may hold what was just rolled back
        }
        if (batch[i].before_commit) {
          if (errors[i]) {
            batch[i].done.set_exception(errors[i]);
          } else {
            batch[i].done.set_value();
          }
        }
      }
      Query(db, "COMMIT").Run();
      commits_.fetch_add(1);
      committed_writes_.fetch_add(batch.size());
      if (restart_wanted_.exchange(false)) {
        // Nothing commits meanwhile, so this copies what the checkpointer could not (what was
        // committed while it ran) and the next transaction starts the log over. Busy (the
        // checkpointer is at it again): its next round asks again.
        sqlite3_wal_checkpoint_v2(db.raw(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      }
    } catch (...) {
      commit_error = std::current_exception();
      sqlite3_exec(db.raw(), "ROLLBACK", nullptr, nullptr, nullptr);
      subscribers_.clear();
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const std::exception_ptr error = commit_error ? commit_error : errors[i];
      if (batch[i].before_commit) {
        continue;  // answered already
      } else if (batch[i].then) {
        batch[i].then(error);
      } else if (error) {
        batch[i].done.set_exception(error);
      } else {
        batch[i].done.set_value();
      }
    }
    batch.clear();
  }
}

void SqliteStore::WriteAsync(std::function<void(Db&)> fn,
                             std::function<void(std::exception_ptr)> then) {
  {
    std::lock_guard lock(write_mu_);
    if (stopping_) throw StoreError("store is closing");
    write_queue_.push_back(WriteJob{std::move(fn), {}, std::move(then)});
  }
  write_cv_.notify_one();
}

std::unique_ptr<Db> SqliteStore::TakeReader() {
  {
    std::lock_guard lock(read_mu_);
    if (!read_pool_.empty()) {
      std::unique_ptr<Db> db = std::move(read_pool_.back());
      read_pool_.pop_back();
      return db;
    }
  }
  return std::make_unique<Db>(path_, true);
}

void SqliteStore::GiveBackReader(std::unique_ptr<Db> db) {
  // Kept for the next reader, unless it is in a failed state.
  if (sqlite3_get_autocommit(db->raw())) {
    std::lock_guard lock(read_mu_);
    read_pool_.push_back(std::move(db));
  }
}

Store::WriteStats SqliteStore::WriteStatistics() {
  WriteStats s;
  s.commits = commits_.load();
  s.writes = committed_writes_.load();
  s.wal_frames = wal_frames_.load();
  s.wal_checkpointed = wal_checkpointed_.load();
  std::lock_guard lock(write_mu_);
  s.queued = write_queue_.size();
  return s;
}

bool SqliteStore::Healthy() {
  try {
    return Read([](Db& db) {
      Query q(db, "SELECT 1");
      return q.Step();
    });
  } catch (const StoreError&) {
    return false;
  }
}

}  // namespace mambo::store
