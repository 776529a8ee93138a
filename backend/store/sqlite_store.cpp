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
#include "util/thread.h"

namespace mambo::store {
namespace {

// Column lists read by LoadWebhookRow and LoadDeliveryRow, in their order. Macros, so each
// query stays one string literal (the statement cache is keyed by the literal's address).
#define MAMBO_WEBHOOK_COLUMNS                                                 \
  "w.id, w.team_id, w.url, w.events, w.secret_enc, w.active, w.description, " \
  "w.disabled_reason, w.created_at, w.updated_at, w.seq"
#define MAMBO_DELIVERY_COLUMNS                                                         \
  "d.id, d.webhook_id, d.team_id, e.id, e.type, d.status, d.attempt_count, d.due_at, " \
  "d.created_at, d.updated_at, d.last_http_status, COALESCE(d.last_cause, ''), d.seq"

// The status of a delivery put back in the queue (lease released or reclaimed, resend): never
// tried is pending, tried before is failed (waiting for its next attempt).
#define MAMBO_REQUEUED_STATUS "CASE WHEN attempt_count = 0 THEN 'pending' ELSE 'failed' END"

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
};

constexpr size_t kMaxBatch = 2000;
constexpr int kWriterNice = -10;

int64_t CursorSeq(const std::string& cursor) {
  if (cursor.empty()) return 0;
  return std::stoll(cursor);  // the API checks the cursor is digits before calling
}

// A webhook's `events` column (a JSON array of type ids) as a list; anything else is empty.
std::vector<std::string> EventTypes(const std::string& json) {
  std::vector<std::string> types;
  if (auto events = ParseJson(json); events && events->is_array()) {
    for (const auto& e : *events) {
      if (e.is_string()) types.push_back(e.get<std::string>());
    }
  }
  return types;
}

std::string JsonText(const Json& j) {
  return j.is_null() ? std::string() : DumpJson(j);
}

}  // namespace

std::string_view ToString(Role role) {
  return role == Role::kAdmin ? "admin" : "ingest";
}

std::optional<Role> ParseRole(std::string_view text) {
  if (text == "admin") return Role::kAdmin;
  if (text == "ingest") return Role::kIngest;
  return std::nullopt;
}

void to_json(Json& j, const AuditEntry& a) {
  j = Json{{"id", a.id},         {"actor", a.actor},         {"at", FormatTimestamp(a.at)},
           {"action", a.action}, {"target_id", a.target_id}, {"before", a.before},
           {"after", a.after}};
}

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

template <typename F>
auto SqliteStore::Read(F&& fn) {
  std::unique_ptr<Db> db;
  {
    std::lock_guard lock(read_mu_);
    if (!read_pool_.empty()) {
      db = std::move(read_pool_.back());
      read_pool_.pop_back();
    }
  }
  if (!db) db = std::make_unique<Db>(path_, true);
  struct Return {
    SqliteStore* self;
    std::unique_ptr<Db>& db;
    ~Return() {
      // Keep the connection for the next reader, unless it is in a failed state.
      if (sqlite3_get_autocommit(db->raw())) {
        std::lock_guard lock(self->read_mu_);
        self->read_pool_.push_back(std::move(db));
      }
    }
  } give_back{this, db};
  return fn(*db);
}

// ---------------------------------------------------------------- teams, tokens, audit

void SqliteStore::EnsureTeam(Db& db, const std::string& team_id, int64_t now) {
  Query(db, "INSERT OR IGNORE INTO teams(id, created_at) VALUES (?, ?)")
      .Bind(1, team_id)
      .Bind(2, now)
      .Run();
}

void SqliteStore::InsertAudit(Db& db, const AuditEntry& a) {
  Query(db,
        "INSERT INTO audit_log(id, team_id, actor, at, action, target_id, before, after) "
        "VALUES (?, ?, ?, ?, ?, ?, NULLIF(?, ''), NULLIF(?, ''))")
      .Bind(1, a.id)
      .Bind(2, a.team_id)
      .Bind(3, a.actor)
      .Bind(4, a.at)
      .Bind(5, a.action)
      .Bind(6, a.target_id)
      .Bind(7, JsonText(a.before))
      .Bind(8, JsonText(a.after))
      .Run();
}

ApiToken SqliteStore::CreateToken(const std::string& team_id, Role role, const std::string& hash,
                                  int64_t now) {
  ApiToken token{crypto::NewId("tok", now), team_id, role, now, std::nullopt};
  Write([&](Db& db) {
    EnsureTeam(db, team_id, now);
    Query(db,
          "INSERT INTO api_tokens(id, team_id, role, token_hash, created_at) VALUES (?,?,?,?,?)")
        .Bind(1, token.id)
        .Bind(2, team_id)
        .Bind(3, ToString(role))
        .BindBlob(4, hash)
        .Bind(5, now)
        .Run();
  });
  // Only cached lookups of active tokens exist, so a new token needs no invalidation to work.
  if (!MarkTokensChanged()) {
    spdlog::warn("could not update {}: {}", tokens_marker_, std::strerror(errno));
  }
  return token;
}

std::optional<ApiToken> SqliteStore::FindActiveToken(const std::string& hash) {
  return Read([&](Db& db) -> std::optional<ApiToken> {
    Query q(db,
            "SELECT id, team_id, role, created_at FROM api_tokens "
            "WHERE token_hash = ? AND revoked_at IS NULL");
    q.BindBlob(1, hash);
    if (!q.Step()) return std::nullopt;
    return ApiToken{q.Text(0), q.Text(1), ParseRole(q.Text(2)).value_or(Role::kIngest), q.Int(3),
                    std::nullopt};
  });
}

std::vector<ApiToken> SqliteStore::ListTokens(const std::optional<std::string>& team_id) {
  return Read([&](Db& db) {
    Query q(db,
            "SELECT id, team_id, role, created_at, revoked_at FROM api_tokens "
            "WHERE ?1 IS NULL OR team_id = ?1 ORDER BY team_id, created_at, id");
    q.Bind(1, team_id);
    std::vector<ApiToken> out;
    while (q.Step()) {
      out.push_back({q.Text(0), q.Text(1), ParseRole(q.Text(2)).value_or(Role::kIngest), q.Int(3),
                     q.OptInt(4)});
    }
    return out;
  });
}

bool SqliteStore::RevokeToken(const std::string& token_id, int64_t now) {
  bool changed = false;
  Write([&](Db& db) {
    Query q(db, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
    q.Bind(1, now).Bind(2, token_id).Run();
    changed = q.Changes() > 0;
  });
  if (changed && !MarkTokensChanged()) {
    // A running webhookd would go on trusting its cached lookup of the token.
    throw StoreError("token revoked, but " + tokens_marker_ + " could not be updated (" +
                     std::strerror(errno) + "): a running webhookd may accept it for up to " +
                     "--token-cache-ms more; restart it to be sure");
  }
  return changed;
}

bool SqliteStore::MarkTokensChanged() {
  // A new file renamed over the old one: it is created while the old one still exists, so its
  // inode number differs, and a reader compares inode and mtime (a mtime alone can repeat within
  // the kernel's timestamp tick). After the commit: a reader that sees the new stamp finds the
  // change in the database.
  const std::string tmp = tokens_marker_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  return fd >= 0 && ::close(fd) == 0 && ::rename(tmp.c_str(), tokens_marker_.c_str()) == 0;
}

std::string SqliteStore::TokensStamp() {
  struct stat st {};
  if (::stat(tokens_marker_.c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

void SqliteStore::AppendAudit(const AuditEntry& audit) {
  Write([&](Db& db) { InsertAudit(db, audit); });
}

Page<AuditEntry> SqliteStore::ListAudit(const std::string& team_id, size_t limit,
                                        const std::string& cursor) {
  // Newest first: the question an auditor asks is "what changed lately".
  return Read([&](Db& db) {
    Query q(db,
            "SELECT id, team_id, actor, at, action, target_id, before, after, seq FROM audit_log "
            "WHERE team_id = ? AND (?2 = 0 OR seq < ?2) ORDER BY seq DESC LIMIT ?");
    q.Bind(1, team_id).Bind(2, CursorSeq(cursor)).Bind(3, static_cast<int64_t>(limit + 1));
    Page<AuditEntry> page;
    int64_t last_seq = 0;
    while (q.Step()) {
      if (page.items.size() == limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      AuditEntry a;
      a.id = q.Text(0);
      a.team_id = q.Text(1);
      a.actor = q.Text(2);
      a.at = q.Int(3);
      a.action = q.Text(4);
      a.target_id = q.Text(5);
      a.before = q.IsNull(6) ? Json(nullptr) : ParseJson(q.Text(6)).value_or(Json(nullptr));
      a.after = q.IsNull(7) ? Json(nullptr) : ParseJson(q.Text(7)).value_or(Json(nullptr));
      last_seq = q.Int(8);
      page.items.push_back(std::move(a));
    }
    return page;
  });
}

// ---------------------------------------------------------------- webhooks

std::optional<std::string> SqliteStore::OpenSecret(const std::optional<std::string>& sealed,
                                                   const std::string& webhook_id) {
  if (!sealed) return std::nullopt;
  auto plain = box_.Open(*sealed, webhook_id);
  if (!plain) {
    throw StoreError("secret of webhook " + webhook_id +
                     " does not decrypt: wrong main key for this data dir?");
  }
  return plain;
}

Webhook SqliteStore::LoadWebhookRow(Query& q, SecretLoad secret) {
  Webhook w;
  w.id = q.Text(0);
  w.team_id = q.Text(1);
  w.url = q.Text(2);
  w.events = EventTypes(q.Text(3));
  if (secret == SecretLoad::kDecrypt) {
    w.secret = OpenSecret(q.OptText(4), w.id);
  } else if (!q.IsNull(4)) {
    w.secret = std::string();  // present, not decrypted: lists only show has_secret
  }
  w.active = q.Int(5) != 0;
  w.description = q.OptText(6);
  w.disabled_reason = q.OptText(7);
  w.created_at = q.Int(8);
  w.updated_at = q.Int(9);
  return w;
}

bool SqliteStore::CreateWebhook(const Webhook& w, const AuditEntry& audit, size_t max_per_team) {
  const std::optional<std::string> sealed =
      w.secret ? std::optional(box_.Seal(*w.secret, w.id)) : std::nullopt;
  bool created = false;
  Write([&](Db& db) {
    if (max_per_team != SIZE_MAX) {
      Query count(db, "SELECT count(*) FROM webhooks WHERE team_id = ?");
      count.Bind(1, w.team_id);
      if (count.Step() && static_cast<size_t>(count.Int(0)) >= max_per_team) return;
    }
    EnsureTeam(db, w.team_id, w.created_at);
    Query q(db,
            "INSERT INTO webhooks(id, team_id, url, events, secret_enc, active, description, "
            "disabled_reason, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)");
    q.Bind(1, w.id).Bind(2, w.team_id).Bind(3, w.url).Bind(4, DumpJson(Json(w.events)));
    if (sealed) {
      q.BindBlob(5, *sealed);
    } else {
      q.BindNull(5);
    }
    q.Bind(6, w.active).Bind(7, w.description).Bind(8, w.disabled_reason);
    q.Bind(9, w.created_at).Bind(10, w.updated_at).Run();
    InsertAudit(db, audit);
    created = true;
  });
  return created;
}

std::optional<Webhook> SqliteStore::GetWebhook(const std::string& team_id, const std::string& id) {
  return Read([&](Db& db) -> std::optional<Webhook> {
    Query q(db,
            "SELECT " MAMBO_WEBHOOK_COLUMNS " FROM webhooks w WHERE w.team_id = ? AND w.id = ?");
    q.Bind(1, team_id).Bind(2, id);
    if (!q.Step()) return std::nullopt;
    return LoadWebhookRow(q, SecretLoad::kDecrypt);
  });
}

Page<Webhook> SqliteStore::ListWebhooks(const std::string& team_id, size_t limit,
                                        const std::string& cursor) {
  return Read([&](Db& db) {
    Query q(db, "SELECT " MAMBO_WEBHOOK_COLUMNS
                " FROM webhooks w WHERE w.team_id = ? AND w.seq > ? "
                "ORDER BY w.seq LIMIT ?");
    q.Bind(1, team_id).Bind(2, CursorSeq(cursor)).Bind(3, static_cast<int64_t>(limit + 1));
    Page<Webhook> page;
    int64_t last_seq = 0;
    while (q.Step()) {
      if (page.items.size() == limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      page.items.push_back(LoadWebhookRow(q, SecretLoad::kPresenceOnly));
      last_seq = q.Int(10);
    }
    return page;
  });
}

bool SqliteStore::UpdateWebhook(const Webhook& w, bool secret_changed, const AuditEntry& audit) {
  const std::optional<std::string> sealed =
      w.secret ? std::optional(box_.Seal(*w.secret, w.id)) : std::nullopt;
  bool changed = false;
  Write([&](Db& db) {
    // A secret changed by PATCH replaces the old one at once (no grace period), so the
    // rotated-out one is dropped when the secret differs from the stored one.
    Query q(db,
            "UPDATE webhooks SET url = ?, events = ?, secret_enc = ?, active = ?, description = ?, "
            "disabled_reason = ?, updated_at = ? WHERE team_id = ? AND id = ?");
    q.Bind(1, w.url).Bind(2, DumpJson(Json(w.events)));
    if (sealed) {
      q.BindBlob(3, *sealed);
    } else {
      q.BindNull(3);
    }
    q.Bind(4, w.active).Bind(5, w.description).Bind(6, w.disabled_reason).Bind(7, w.updated_at);
    q.Bind(8, w.team_id).Bind(9, w.id).Run();
    changed = q.Changes() > 0;
    if (!changed) return;
    if (secret_changed) {
      Query(db, "UPDATE webhooks SET prev_secret_enc = NULL, prev_valid_until = NULL WHERE id = ?")
          .Bind(1, w.id)
          .Run();
    }
    InsertAudit(db, audit);
  });
  return changed;
}

bool SqliteStore::DeleteWebhook(const std::string& team_id, const std::string& id,
                                const AuditEntry& audit) {
  bool changed = false;
  Write([&](Db& db) {
    Query q(db, "DELETE FROM webhooks WHERE team_id = ? AND id = ?");
    q.Bind(1, team_id).Bind(2, id).Run();
    changed = q.Changes() > 0;
    if (changed) InsertAudit(db, audit);
  });
  return changed;
}

bool SqliteStore::RotateSecret(const std::string& team_id, const std::string& id,
                               const std::string& new_secret, int64_t old_valid_until,
                               const AuditEntry& audit) {
  const std::string sealed = box_.Seal(new_secret, id);
  bool changed = false;
  Write([&](Db& db) {
    // The current secret (if any) becomes the previous one; its sealed form stays valid since
    // it is bound to the same webhook id.
    Query q(db,
            "UPDATE webhooks SET prev_secret_enc = secret_enc, "
            "prev_valid_until = CASE WHEN secret_enc IS NULL THEN NULL ELSE ? END, "
            "secret_enc = ?, updated_at = ? WHERE team_id = ? AND id = ?");
    q.Bind(1, old_valid_until).BindBlob(2, sealed).Bind(3, audit.at).Bind(4, team_id).Bind(5, id);
    q.Run();
    changed = q.Changes() > 0;
    if (changed) InsertAudit(db, audit);
  });
  return changed;
}

bool SqliteStore::DisableWebhook(const std::string& team_id, const std::string& id,
                                 const std::string& reason, const AuditEntry& audit) {
  bool changed = false;
  Write([&](Db& db) {
    Query q(db,
            "UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ? "
            "WHERE team_id = ? AND id = ? AND active = 1");
    q.Bind(1, reason).Bind(2, audit.at).Bind(3, team_id).Bind(4, id).Run();
    changed = q.Changes() > 0;
    if (changed) InsertAudit(db, audit);
  });
  return changed;
}

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

size_t SqliteStore::LeaseScan::Allowed(std::string_view webhook_id) const {
  const auto r = room->room.find(webhook_id);
  return r != room->room.end() ? r->second : room->default_room;
}

size_t SqliteStore::LeaseScan::Taken(std::string_view webhook_id) const {
  const auto t = taken.find(webhook_id);
  return t != taken.end() ? t->second : 0;
}

size_t SqliteStore::LeaseScan::TeamAllowed(std::string_view team_id) const {
  const auto r = room->team_room.find(team_id);
  return r != room->team_room.end() ? r->second : room->default_team_room;
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
                     HasRoom(scan->Allowed(webhook_id), scan->Taken(webhook_id), scan->budget));
}

void SqliteStore::LeaseTeamHasRoom(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  LeaseScan* scan = static_cast<SqliteStore*>(sqlite3_user_data(ctx))->lease_scan_;
  if (scan == nullptr) return sqlite3_result_int(ctx, 1);
  const std::string_view team_id = TextArg(argv);
  sqlite3_result_int(ctx,
                     HasRoom(scan->TeamAllowed(team_id), scan->TeamTaken(team_id), scan->budget));
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
        std::unordered_map<std::string, std::vector<std::string>> secrets;  // by webhook id
        // SQLite evaluates lease_has_room() as it reaches each row (the index gives the order,
        // no sort), after the rows before it were taken below.
        Query q(db,
                "SELECT d.id, d.webhook_id, d.team_id, e.id, e.type, d.status, d.attempt_count, "
                "d.created_at, d.updated_at, d.last_http_status, d.last_cause, "
                "e.timestamp, e.data, w.url, w.secret_enc, w.prev_secret_enc, w.prev_valid_until, "
                "w.active, d.seq FROM deliveries d JOIN events e ON e.seq = d.event_seq "
                "JOIN webhooks w ON w.id = d.webhook_id "
                "WHERE d.status IN ('pending', 'failed', 'in_flight') AND d.due_at <= ?1 "
                "AND lease_has_room(d.webhook_id) AND lease_team_has_room(d.team_id) "
                "AND (w.active = 1 OR e.type = 'webhook.test') "
                "ORDER BY d.due_at LIMIT ?2");
        q.Bind(1, now).Bind(2, static_cast<int64_t>(limit) + 1);
        std::vector<int64_t> rows;  // rowids of the deliveries taken
        while (tasks.size() < limit && q.Step()) {
          std::string webhook_id = q.Text(1);
          const std::string team_id = q.Text(2);
          if (scan.Taken(webhook_id) >= scan.Allowed(webhook_id) ||
              scan.TeamTaken(team_id) >= scan.TeamAllowed(team_id)) {
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
          // An AES-GCM open per secret: once per webhook and lease, not per delivery.
          auto [cached, fresh] = secrets.try_emplace(d.webhook_id);
          if (fresh) {
            if (auto s = OpenSecret(q.OptText(14), d.webhook_id)) cached->second.push_back(*s);
            if (auto prev = q.OptText(15); prev && q.OptInt(16).value_or(0) > now) {
              if (auto s = OpenSecret(prev, d.webhook_id)) cached->second.push_back(*s);
            }
          }
          t.secrets = cached->second;
          t.webhook_active = q.Int(17) != 0;
          tasks.push_back(std::move(t));
          rows.push_back(q.Int(18));
        }
        for (const int64_t row : rows) {  // by rowid: no lookup in the id index
          Query(db, "UPDATE deliveries SET status = 'in_flight', due_at = ? WHERE seq = ?")
              .Bind(1, lease_until)
              .Bind(2, row)
              .Run();
        }
      },
      Durability::kBeforeCommit);
  return tasks;
}

void SqliteStore::RecordAttempt(const AttemptOutcome& o) {
  const HeaderTexts headers = SerializeHeaders(o);
  Write([&](Db& db) { RecordAttemptIn(db, o, headers); });
}

// Serialised by the caller: the writer thread is the one every write waits on.
SqliteStore::HeaderTexts SqliteStore::SerializeHeaders(const AttemptOutcome& o) {
  return {DumpJson(Json(o.attempt.request_headers)), DumpJson(Json(o.attempt.response_headers))};
}

void SqliteStore::RecordAttemptAsync(AttemptOutcome outcome,
                                     std::function<void(const AttemptOutcome&, bool)> done) {
  auto shared = std::make_shared<const AttemptOutcome>(std::move(outcome));
  WriteAsync([this, shared, headers = SerializeHeaders(*shared)](
                 Db& db) { RecordAttemptIn(db, *shared, headers); },
             [shared, done = std::move(done)](std::exception_ptr error) {
               done(*shared, error == nullptr);
             });
}

void SqliteStore::RecordAttemptIn(Db& db, const AttemptOutcome& o, const HeaderTexts& headers) {
  {
    const DeliveryAttempt& a = o.attempt;
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
    const int64_t now = a.started_at + a.duration_ms;
    Query(db,
          "UPDATE deliveries SET status = ?, attempt_count = ?, due_at = ?, updated_at = ?, "
          "last_http_status = ?, last_cause = NULLIF(?, '') WHERE id = ?")
        .Bind(1, ToString(o.status))
        .Bind(2, a.number)
        .Bind(3, o.status == DeliveryStatus::kFailed ? o.next_attempt_at : now)
        .Bind(4, now)
        .Bind(5, a.http_status)
        .Bind(6, ToString(a.cause))
        .Bind(7, a.delivery_id)
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
}

void SqliteStore::ReleaseLeases(const std::vector<std::string>& delivery_ids) {
  if (delivery_ids.empty()) return;
  Write([&](Db& db) {
    for (const auto& id : delivery_ids) {
      // Back to due-now; attempt_count tells whether it had been tried before.
      Query(db, "UPDATE deliveries SET status = " MAMBO_REQUEUED_STATUS
                ", due_at = updated_at WHERE id = ? AND status = 'in_flight'")
          .Bind(1, id)
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
                "AND (?5 IS NULL OR e.type = ?5) ORDER BY d.seq DESC LIMIT ?6");
    q.Bind(1, webhook_id).Bind(2, team_id).Bind(3, CursorSeq(cursor));
    if (filter.status) {
      q.Bind(4, ToString(*filter.status));
    } else {
      q.BindNull(4);
    }
    q.Bind(5, filter.event_type).Bind(6, static_cast<int64_t>(limit + 1));
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
                " FROM deliveries d "
                "JOIN events e ON e.seq = d.event_seq WHERE d.id = ? AND d.team_id = ?");
    q.Bind(1, id).Bind(2, team_id);
    if (!q.Step()) return std::nullopt;
    Delivery d = LoadDeliveryRow(q);
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

std::vector<Webhook> SqliteStore::FailingWebhooks(int64_t since) {
  return Read([&](Db& db) {
    // Active, no success since `since` (nor ever, when created before it), and at least one
    // delivery that exhausted its retries after the last success.
    Query q(db, "SELECT " MAMBO_WEBHOOK_COLUMNS
                " FROM webhooks w "
                "WHERE w.active = 1 AND COALESCE(w.last_success_at, w.created_at) < ?1 "
                "AND EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id "
                "AND d.status = 'exhausted' AND d.updated_at >= COALESCE(w.last_success_at, 0))");
    q.Bind(1, since);
    std::vector<Webhook> out;
    while (q.Step()) out.push_back(LoadWebhookRow(q, SecretLoad::kPresenceOnly));
    return out;
  });
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
              "SELECT seq, created_at, status IN ('succeeded', 'exhausted') AND updated_at < ? "
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

int64_t SqliteStore::ReclaimLeases(int64_t now) {
  int64_t count = 0;
  Write([&](Db& db) {
    Query q(db, "UPDATE deliveries SET status = " MAMBO_REQUEUED_STATUS
                ", due_at = ? WHERE status = 'in_flight'");
    q.Bind(1, now).Run();
    count = q.Changes();
  });
  return count;
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
