#pragma once
// Where webhookd keeps its state: SQLite in --data-dir (the default: one process, nothing else
// to run) or PostgreSQL (--database: several instances share the work). Both give the same
// store roles; serve and the token commands open one through OpenBackend.

#include <functional>
#include <memory>
#include <string>

#include "store/store.h"

namespace mambo::app {

struct BackendOptions {
  std::string data_dir = "./data";
  std::string database;         // libpq URI (postgresql://...); empty: SQLite in data_dir
  std::string master_key_file;  // required with `database`; default <data_dir>/master.key
  std::string instance;         // names this process in the leases it takes (PostgreSQL)
  bool serve = false;           // SQLite: hold the data dir's lock (one serve per data dir)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual store::StoreRoles roles() = 0;
  virtual store::JobLocks& locks() = 0;
  virtual bool Healthy() = 0;
  // The store's lines for /metrics.
  virtual std::string MetricsText() = 0;
  // At start: leases that can no longer be held go back to the queue. SQLite: all of them (the
  // data dir's lock proves their process is gone). PostgreSQL: the expired ones (the others
  // belong to live instances).
  virtual int64_t ReclaimAtStart(int64_t now) = 0;
  virtual std::string Describe() const = 0;  // for the log, without credentials
  // Starts following what other processes change (PostgreSQL: notifications); `work_queued`
  // runs when another instance queued work this one's engine may take.
  virtual void Follow(std::function<void()> work_queued) = 0;
};

// Opens the backend `o` names (creating and migrating it as needed); null with a one-line
// reason for the operator in `error`.
std::unique_ptr<Backend> OpenBackend(const BackendOptions& o, std::string* error);

}  // namespace mambo::app
