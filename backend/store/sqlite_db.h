#pragma once
// A thin RAII layer over the SQLite C API: connections with a prepared-statement cache and
// queries that reset themselves. Errors throw StoreError: a failing statement is a bug or a
// broken disk, never user input (user input is validated before it reaches the store).

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/store.h"  // StoreError

namespace mambo::store {

class Db {
 public:
  Db(const std::string& path, bool read_only);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void Exec(const char* sql);
  sqlite3_stmt* Prepare(const char* sql);  // cached: `sql` must be a string literal
  sqlite3* raw() { return db_; }
  [[noreturn]] void Fail(const char* what);

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

// One execution of a cached statement; resets and clears bindings when it goes out of scope.
class Query {
 public:
  Query(Db& db, const char* sql);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& Bind(int i, std::string_view text);
  Query& Bind(int i, const std::string& text) { return Bind(i, std::string_view(text)); }
  Query& Bind(int i, const char* text) { return Bind(i, std::string_view(text)); }
  Query& Bind(int i, int64_t v);
  Query& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Query& Bind(int i, bool v) { return Bind(i, static_cast<int64_t>(v)); }
  Query& BindBlob(int i, std::string_view bytes);
  Query& BindBlob(int i, const std::string& bytes) { return BindBlob(i, std::string_view(bytes)); }
  Query& BindBlob(int i, const std::optional<std::string>& bytes) {
    return bytes ? BindBlob(i, *bytes) : BindNull(i);
  }
  Query& BindNull(int i);
  template <typename T>
  Query& Bind(int i, const std::optional<T>& v) {
    return v ? Bind(i, *v) : BindNull(i);
  }

  bool Step();  // true while there is a row
  void Run() {
    while (Step()) {
    }
  }
  int Changes() const { return sqlite3_changes(db_.raw()); }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const;
  std::optional<std::string> OptText(int col) const;
  std::optional<int64_t> OptInt(int col) const;

 private:
  Db& db_;
  sqlite3_stmt* stmt_;
};

}  // namespace mambo::store
