#pragma once
// A real PostgreSQL for tests: one throwaway cluster per test process, started on first use by
// scripts/pg-dev.sh (initdb into a temporary dir, a Unix socket only, as the postgres OS user
// under root, fsync off) and destroyed at exit. Each test takes a fresh database of its own.

#include <string>

namespace mambo::testing {

class PgCluster {
 public:
  // The cluster, started if needed; fails the current test (and returns a cluster whose
  // NewDatabase() answers "") when PostgreSQL cannot start.
  static PgCluster& Get();
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
  PgCluster();
  std::string dir_;
  std::string admin_uri_;
  int databases_ = 0;
};

}  // namespace mambo::testing
