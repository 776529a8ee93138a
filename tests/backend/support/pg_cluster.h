#pragma once
// A real PostgreSQL for tests: the cluster ctest started for the run (MAMBO_PG_DIR, see
// tests/backend/CMakeLists.txt), or else one of this process's own, started on first use by
// scripts/pg-dev.sh (initdb into a temporary dir, a Unix socket only, as the postgres OS user
// under root, fsync off) and destroyed at exit. Each test takes a fresh database of its own.

#include <string>

namespace mambo::testing {

class PgCluster {
 public:
  // The cluster, started if needed; fails the current test (and returns a cluster whose
  // NewDatabase() answers "") when PostgreSQL cannot start.
  static PgCluster& Get();
  // Always this process's own cluster: for a test that stops or restarts the server, which
  // would break the other tests sharing the run's cluster.
  static PgCluster& Own();
  // CREATE DATABASE with a new name; its libpq URI.
  std::string NewDatabase();
  // Stops and starts the server on the same files (connections break; data stays).
  void Restart();
  void Stop();
  void Start();
  bool running() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }

  ~PgCluster();

 private:
  explicit PgCluster(bool shared);
  std::string dir_;
  bool owned_ = true;
  std::string admin_uri_;
  int databases_ = 0;
};

}  // namespace mambo::testing
