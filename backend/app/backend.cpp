#include "app/backend.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "app/options.h"
#include "crypto/crypto.h"
#include "mambo/validation.h"
#include "store/pg_store.h"
#include "store/sqlite_store.h"

namespace mambo::app {
namespace {

// One process owns an SQLite data dir: every job is its alone.
class LocalJobLocks final : public store::JobLocks {
 public:
  bool RunExclusive(std::string_view, const std::function<void()>& fn) override {
    fn();
    return true;
  }
};

class SqliteBackend final : public Backend {
 public:
  SqliteBackend(std::string data_dir, int lock_fd, std::unique_ptr<store::SqliteStore> store)
      : data_dir_(std::move(data_dir)), lock_fd_(lock_fd), store_(std::move(store)) {}
  ~SqliteBackend() override {
    store_.reset();  // joins the writer after its last commit
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }
  store::StoreRoles roles() override { return {*store_, *store_, *store_}; }
  store::JobLocks& locks() override { return locks_; }
  bool Healthy() override { return store_->Healthy(); }
  int64_t ReclaimAtStart(int64_t now) override { return store_->ReclaimAllLeases(now); }
  std::string Describe() const override { return "SQLite in " + data_dir_; }
  // One process: the token CLI's changes are seen through the store's marker file.
  void Follow(std::function<void()>) override {}
  std::string MetricsText() override {
    const store::Store::WriteStats w = store_->WriteStatistics();
    return "# HELP mambo_store_commits_total Transactions committed by the store writer (each "
           "with changes costs one fsync).\n# TYPE mambo_store_commits_total "
           "counter\nmambo_store_commits_total " +
           std::to_string(w.commits) +
           "\n# HELP mambo_store_writes_total Writes committed; several share a commit (group "
           "commit).\n# TYPE mambo_store_writes_total counter\nmambo_store_writes_total " +
           std::to_string(w.writes) +
           "\n# HELP mambo_store_write_queue Writes waiting for the store writer.\n"
           "# TYPE mambo_store_write_queue gauge\nmambo_store_write_queue " +
           std::to_string(w.queued) +
           "\n# HELP mambo_store_wal_frames Pages in the write-ahead log at the last "
           "checkpoint.\n# TYPE mambo_store_wal_frames gauge\nmambo_store_wal_frames " +
           std::to_string(w.wal_frames) +
           "\n# HELP mambo_store_wal_checkpointed_frames Of those, copied into the database "
           "file.\n# TYPE mambo_store_wal_checkpointed_frames gauge\n"
           "mambo_store_wal_checkpointed_frames " +
           std::to_string(w.wal_checkpointed) + "\n";
  }

 private:
  std::string data_dir_;
  int lock_fd_;
  std::unique_ptr<store::SqliteStore> store_;
  LocalJobLocks locks_;
};

class PgBackend final : public Backend {
 public:
  PgBackend(const std::string& uri, const std::string& key, const std::string& instance)
      : described_("PostgreSQL at " + RedactUrl(uri)),
        db_(uri, crypto::SecretBox(key)),
        config_(db_),
        queue_(db_, instance),
        history_(db_),
        locks_(db_),
        listener_(uri, std::chrono::milliseconds(500)) {}
  void Follow(std::function<void()> work_queued) override {
    config_.CacheTokensStamp();
    listener_.On("mambo_tokens", [this] { config_.RefreshTokensStamp(); });
    listener_.On("mambo_queue", std::move(work_queued));
    listener_.Start();
  }
  store::StoreRoles roles() override { return {config_, queue_, history_}; }
  store::JobLocks& locks() override { return locks_; }
  bool Healthy() override { return db_.Healthy(); }
  int64_t ReclaimAtStart(int64_t now) override { return queue_.ReclaimExpiredLeases(now); }
  std::string Describe() const override { return described_; }
  std::string MetricsText() override { return ""; }

 private:
  std::string described_;
  store::PgDatabase db_;
  store::PgConfigStore config_;
  store::PgQueueStore queue_;
  store::PgHistoryStore history_;
  store::PgJobLocks locks_;
  store::PgListener listener_;  // last: stopped first, before what its callbacks use
};

}  // namespace

std::unique_ptr<Backend> OpenBackend(const BackendOptions& o, std::string* error) {
  try {
    if (!o.database.empty()) {
      if (o.database.rfind("postgresql://", 0) != 0 && o.database.rfind("postgres://", 0) != 0) {
        *error = "--database must be a PostgreSQL URI (postgresql://user@host:port/db?...)";
        return nullptr;
      }
      // Every instance must seal and open secrets with the same key: none is made up here.
      if (o.master_key_file.empty()) {
        *error =
            "--database needs --master-key-file (the same 32-byte key file on every instance; "
            "e.g. made once with: openssl rand -hex 32 > main.key)";
        return nullptr;
      }
      std::string key;
      if (auto err = crypto::LoadOrCreateMainKey(o.master_key_file, false, key)) {
        *error = *err;
        return nullptr;
      }
      return std::make_unique<PgBackend>(o.database, key, o.instance);
    }
    if (::mkdir(o.data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = "cannot create --data-dir " + o.data_dir + ": " + std::strerror(errno);
      return nullptr;
    }
    std::string key;
    if (auto err = crypto::LoadOrCreateMainKey(MainKeyPath(o.data_dir, o.master_key_file),
                                               o.master_key_file.empty(), key)) {
      *error = *err;
      return nullptr;
    }
    int lock_fd = -1;
    if (o.serve) {
      // One serve per data dir: the queue's leases assume a single owner, and a second process
      // would double-send. The lock dies with the process, so a crash never leaves it stale.
      const std::string lock_path = o.data_dir + "/webhookd.lock";
      lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
      if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        if (lock_fd >= 0) ::close(lock_fd);
        *error = "another webhookd serve is using --data-dir " + o.data_dir;
        return nullptr;
      }
    }
    try {
      auto store = std::make_unique<store::SqliteStore>(o.data_dir, crypto::SecretBox(key));
      return std::make_unique<SqliteBackend>(o.data_dir, lock_fd, std::move(store));
    } catch (...) {
      if (lock_fd >= 0) ::close(lock_fd);
      throw;
    }
  } catch (const std::exception& e) {
    *error = e.what();
    return nullptr;
  }
}

}  // namespace mambo::app
