#pragma once
// A thin layer over libpq for the PostgreSQL store: a connection that prepares each statement
// once, results that free themselves, transactions that roll back unless committed, and a pool.
//
// Parameters and results travel as text, except bytea, which goes as binary (sealed secrets,
// token hashes): no escaping anywhere, and SQL never holds a value. Errors throw StoreError with
// PostgreSQL's message and SQLSTATE; a connection that broke (server restarted, network) is
// marked bad and the pool replaces it at the next Acquire.

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.h"  // StoreError

namespace mambo::store::pg {

// One statement parameter: text, binary (bytea) or NULL.
struct Param {
  Param() = default;  // NULL
  Param(std::string_view v) : value(std::string(v)) {}
  Param(const std::string& v) : value(v) {}
  Param(const char* v) : value(std::string(v)) {}
  Param(int64_t v) : value(std::to_string(v)) {}
  Param(int v) : value(std::to_string(v)) {}
  Param(size_t v) : value(std::to_string(v)) {}
  Param(bool v) : value(v ? "t" : "f") {}
  Param(const std::optional<std::string>& v) : value(v) {}
  Param(const std::optional<int64_t>& v) {
    if (v) value = std::to_string(*v);
  }
  Param(const std::optional<int>& v) {
    if (v) value = std::to_string(*v);
  }
  static Param Bytes(std::string_view v) {
    Param p{v};
    p.binary = true;
    return p;
  }
  static Param Bytes(const std::string& v) { return Bytes(std::string_view(v)); }
  static Param Bytes(const std::optional<std::string>& v) { return v ? Bytes(*v) : Param(); }
  std::optional<std::string> value;
  bool binary = false;
};

// An array parameter ("{...}" in PostgreSQL's text form), so that a batch of any size is one
// prepared statement over unnest(...) instead of a statement text per size. Elements are
// quoted: any text goes in as it is (what the server refuses in a plain text parameter, such as
// bytes that are not UTF-8, it refuses here too).
class Array {
 public:
  Array& Add(std::string_view text);
  Array& Add(int64_t n);
  Array& Add(bool b);
  Array& AddBytes(std::string_view bytes);  // an element of a bytea[]
  Array& AddNull();
  template <typename T>
  Array& Add(const std::optional<T>& v) {
    return v ? Add(*v) : AddNull();
  }
  // Every element of `items` (strings or integers).
  template <typename Range>
  static Array Of(const Range& items) {
    Array a;
    for (const auto& item : items) a.Add(item);
    return a;
  }
  operator Param() const { return Param(text_ + "}"); }

 private:
  void Next() { text_ += text_.size() > 1 ? "," : ""; }
  std::string text_ = "{";
};

class Result {
 public:
  explicit Result(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string Text(int row, int col) const;
  int64_t Int(int row, int col) const;
  bool Bool(int row, int col) const;
  std::optional<std::string> OptText(int row, int col) const;
  std::optional<int64_t> OptInt(int row, int col) const;
  // A bytea column selected in text form ("\x..." hex): its bytes.
  std::string Bytes(int row, int col) const;
  std::optional<std::string> OptBytes(int row, int col) const;
  int64_t affected() const;  // rows an INSERT/UPDATE/DELETE touched

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

class Conn {
 public:
  // `options`: server settings for this session, e.g. "-c synchronous_commit=off".
  explicit Conn(const std::string& uri, const char* options = nullptr);
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // One or more statements without parameters (migrations, BEGIN/COMMIT).
  void Exec(const char* sql);
  // A statement with parameters, prepared on this connection at its first use. `sql` must be a
  // string literal: prepared statements are keyed by its address.
  //
  // Both reconnect once when the server went away since the last statement (a restart) and no
  // transaction was open; inside a transaction the error goes to the caller.
  Result Run(const char* sql, const std::vector<Param>& params = {});
  bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK && !broken_; }
  PGconn* raw() { return conn_.get(); }

 private:
  Result Check(PGresult* r, const char* sql);
  Result RunOnce(const char* sql, const std::vector<Param>& params);
  bool Reconnect();
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
  std::unordered_map<const char*, std::string> prepared_;
  bool broken_ = false;
  bool in_transaction_ = false;
};

// BEGIN on construction, ROLLBACK on destruction unless Commit() ran.
class Tx {
 public:
  explicit Tx(Conn& c);
  ~Tx();
  void Commit();

 private:
  Conn& c_;
  bool done_ = false;
};

// A fixed number of connections, made on demand; Acquire blocks while all are in use.
class Pool {
 public:
  Pool(std::string uri, size_t size);
  class Lease {
   public:
    Lease(Pool& pool, std::unique_ptr<Conn> conn) : pool_(&pool), conn_(std::move(conn)) {}
    Lease(Lease&&) = default;
    ~Lease();
    Conn& operator*() { return *conn_; }
    Conn* operator->() { return conn_.get(); }

   private:
    Pool* pool_;
    std::unique_ptr<Conn> conn_;
  };
  Lease Acquire();
  const std::string& uri() const { return uri_; }

 private:
  void GiveBack(std::unique_ptr<Conn> conn);
  const std::string uri_;
  const size_t size_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  size_t out_ = 0;
};

// A statement failed; `sqlstate` is PostgreSQL's code ("23505": unique violation, "" when the
// connection itself failed). `connection_lost`: the connection broke (no answer, or not
// connected after it), and the pool replaces it.
struct PgError : StoreError {
  PgError(const std::string& message, std::string state, bool lost)
      : StoreError(message), sqlstate(std::move(state)), connection_lost(lost) {}
  // The server could not be reached or is going away (restart, failover, shutdown): worth
  // trying again once it is back, unlike a statement it refused.
  bool Unreachable() const {
    return connection_lost || sqlstate.rfind("08", 0) == 0 || sqlstate == "57P01" ||
           sqlstate == "57P02" || sqlstate == "57P03";
  }
  std::string sqlstate;
  bool connection_lost;
};

}  // namespace mambo::store::pg
