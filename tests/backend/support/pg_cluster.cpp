#include "support/pg_cluster.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>

namespace mambo::testing {
namespace {

// Runs a command; its stdout, or nullopt when it failed (stderr goes to the test's output).
std::optional<std::string> Capture(const std::string& command) {
  std::unique_ptr<FILE, decltype(&pclose)> pipe(::popen(command.c_str(), "r"), &pclose);
  if (!pipe) return std::nullopt;
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
  FILE* raw = pipe.release();
  if (::pclose(raw) != 0) return std::nullopt;
  return out;
}

std::string Script() {
  return std::string(MAMBO_SOURCE_DIR) + "/scripts/pg-dev.sh";
}

}  // namespace

PgCluster& PgCluster::Get() {
  static PgCluster cluster(true);
  if (!cluster.running()) ADD_FAILURE() << "PostgreSQL did not start (see scripts/pg-dev.sh)";
  return cluster;
}

PgCluster& PgCluster::Own() {
  static PgCluster cluster(false);
  if (!cluster.running()) ADD_FAILURE() << "PostgreSQL did not start (see scripts/pg-dev.sh)";
  return cluster;
}

PgCluster::PgCluster(bool shared) {
  const char* run_dir = std::getenv("MAMBO_PG_DIR");
  if (shared && run_dir != nullptr && *run_dir != '\0' &&
      ::access((std::string(run_dir) + "/.s.PGSQL.5432").c_str(), F_OK) == 0) {
    dir_ = run_dir;
    owned_ = false;
    admin_uri_ = "postgresql:///postgres?host=" + dir_ + "&port=5432&user=postgres";
    return;
  }
  char tmpl[] = "/tmp/mambo-pgtest.XXXXXX";  // short: the socket path must fit in 107 bytes
  if (::mkdtemp(tmpl) == nullptr) return;
  auto out = Capture(Script() + " start " + tmpl + " --no-fsync");
  if (!out) {
    Capture("rm -rf " + std::string(tmpl));
    return;
  }
  dir_ = tmpl;
  admin_uri_ = "postgresql:///postgres?host=" + dir_ + "&port=5432&user=postgres";
}

PgCluster::~PgCluster() {
  if (owned_ && !dir_.empty()) Capture(Script() + " destroy " + dir_ + " >/dev/null 2>&1");
}

std::string PgCluster::NewDatabase() {
  if (dir_.empty()) return "";
  const std::string name = "t" + std::to_string(::getpid()) + "_" + std::to_string(++databases_);
  PGconn* c = PQconnectdb(admin_uri_.c_str());
  PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) ADD_FAILURE() << "CREATE DATABASE failed: " << PQerrorMessage(c);
  PQclear(r);
  PQfinish(c);
  return ok ? "postgresql:///" + name + "?host=" + dir_ + "&port=5432&user=postgres" : "";
}

void PgCluster::Stop() {
  if (!Capture(Script() + " stop " + dir_)) ADD_FAILURE() << "pg-dev.sh stop failed";
}

void PgCluster::Start() {
  if (!Capture(Script() + " start " + dir_ + " --no-fsync")) {
    ADD_FAILURE() << "pg-dev.sh start failed";
  }
}

void PgCluster::Restart() {
  if (!Capture(Script() + " restart " + dir_)) ADD_FAILURE() << "pg-dev.sh restart failed";
}

}  // namespace mambo::testing
