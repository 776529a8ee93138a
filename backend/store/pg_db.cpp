#include "store/pg_db.h"

#include <cstdlib>
#include <cstring>

namespace mambo::store::pg {
namespace {

// Parameters as libpq takes them: pointers into `params`, which must outlive this.
struct Wire {
  explicit Wire(const std::vector<Param>& params)
      : values(params.size()), lengths(params.size()), formats(params.size()) {
    for (size_t i = 0; i < params.size(); ++i) {
      if (params[i].value) {
        values[i] = params[i].value->data();
        lengths[i] = static_cast<int>(params[i].value->size());
      }
      formats[i] = params[i].binary ? 1 : 0;
    }
  }
  int count() const { return static_cast<int>(values.size()); }
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
};

}  // namespace

std::string Result::Text(int row, int col) const {
  return std::string(PQgetvalue(r_.get(), row, col),
                     static_cast<size_t>(PQgetlength(r_.get(), row, col)));
}

int64_t Result::Int(int row, int col) const {
  return std::strtoll(PQgetvalue(r_.get(), row, col), nullptr, 10);
}

bool Result::Bool(int row, int col) const {
  return PQgetvalue(r_.get(), row, col)[0] == 't';
}

std::optional<std::string> Result::OptText(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Text(row, col);
}

std::optional<int64_t> Result::OptInt(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Int(row, col);
}

std::string Result::Bytes(int row, int col) const {
  size_t n = 0;
  unsigned char* bytes =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_.get(), row, col)), &n);
  if (bytes == nullptr) throw StoreError("cannot decode a bytea value");
  std::string out(reinterpret_cast<const char*>(bytes), n);
  PQfreemem(bytes);
  return out;
}

std::optional<std::string> Result::OptBytes(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Bytes(row, col);
}

int64_t Result::affected() const {
  return std::strtoll(PQcmdTuples(r_.get()), nullptr, 10);
}

Array& Array::Add(std::string_view text) {
  Next();
  text_ += '"';
  for (char ch : text) {
    if (ch == '"' || ch == '\\') text_ += '\\';
    text_ += ch;
  }
  text_ += '"';
  return *this;
}

Array& Array::Add(int64_t n) {
  Next();
  text_ += std::to_string(n);
  return *this;
}

Array& Array::Add(bool b) {
  Next();
  text_ += b ? 't' : 'f';
  return *this;
}

Array& Array::AddNull() {
  Next();
  text_ += "NULL";
  return *this;
}

Array& Array::AddBytes(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  Next();
  // "\\x...": bytea's hex form, its backslash escaped in the array literal.
  text_ += "\"\\\\x";
  for (unsigned char b : bytes) {
    text_ += kHex[b >> 4];
    text_ += kHex[b & 15];
  }
  text_ += '"';
  return *this;
}

namespace {

// `options` (server settings, "-c name=value ...") go with the connection's parameters, so a
// reconnect (PQreset) keeps them, where a SET would be lost with the session.
PGconn* Connect(const std::string& uri, const char* options) {
  const char* keys[] = {"dbname", options ? "options" : nullptr, nullptr};
  const char* values[] = {uri.c_str(), options, nullptr};
  return PQconnectdbParams(keys, values, /*expand_dbname=*/1);
}

}  // namespace

Conn::Conn(const std::string& uri, const char* options) : conn_(Connect(uri, options), &PQfinish) {
  if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
    std::string why = conn_ ? PQerrorMessage(conn_.get()) : "out of memory";
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    throw PgError("cannot connect to PostgreSQL: " + why, "", /*lost=*/true);
  }
  // Notices (e.g. "relation already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      conn_.get(), [](void*, const char*) {}, nullptr);
}

Result Conn::Check(PGresult* r, const char* sql) {
  Result result(r);
  const ExecStatusType status = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  const char* state = r != nullptr ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = r != nullptr ? PQresultErrorMessage(r) : PQerrorMessage(conn_.get());
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (PQstatus(conn_.get()) != CONNECTION_OK || state == nullptr) broken_ = true;
  // The first line of the statement says which one failed, without its values (there are none).
  std::string_view first(sql);
  first = first.substr(0, std::min(first.find('\n'), size_t{80}));
  throw PgError(message + " (in: " + std::string(first) + ")", state != nullptr ? state : "",
                broken_);
}

bool Conn::Reconnect() {
  // Only between transactions: inside one, the server has rolled it back, and the caller must
  // learn that from the error.
  if (PQstatus(conn_.get()) == CONNECTION_OK || in_transaction_) return false;
  PQreset(conn_.get());
  prepared_.clear();  // they lived in the old session
  broken_ = PQstatus(conn_.get()) != CONNECTION_OK;
  return !broken_;
}

void Conn::Exec(const char* sql) {
  PGresult* r = PQexec(conn_.get(), sql);
  if (PQresultStatus(r) == PGRES_FATAL_ERROR && Reconnect()) {
    PQclear(r);
    r = PQexec(conn_.get(), sql);
  }
  Check(r, sql);
  // Where BEGIN/COMMIT/ROLLBACK leave the session: what Reconnect may do next time.
  in_transaction_ = PQtransactionStatus(conn_.get()) != PQTRANS_IDLE;
}

Result Conn::Run(const char* sql, const std::vector<Param>& params) {
  try {
    return RunOnce(sql, params);
  } catch (const PgError&) {
    // A server restarted since this connection's last statement: one more try on a new session.
    if (!Reconnect()) throw;
  }
  return RunOnce(sql, params);
}

Result Conn::RunOnce(const char* sql, const std::vector<Param>& params) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size());
    Check(PQprepare(conn_.get(), name.c_str(), sql, 0, nullptr), sql);
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  const Wire wire(params);
  return Check(PQexecPrepared(conn_.get(), it->second.c_str(), wire.count(), wire.values.data(),
                              wire.lengths.data(), wire.formats.data(), 0),
               sql);
}

Tx::Tx(Conn& c) : c_(c) {
  c_.Exec("BEGIN");
}

Tx::~Tx() {
  if (done_) return;
  try {
    c_.Exec("ROLLBACK");
  } catch (const StoreError&) {
    // The connection is gone: the server rolled back already.
  }
}

void Tx::Commit() {
  c_.Exec("COMMIT");
  done_ = true;
}

Pool::Pool(std::string uri, size_t size) : uri_(std::move(uri)), size_(size) {}

Pool::Lease::~Lease() {
  if (pool_ != nullptr && conn_) pool_->GiveBack(std::move(conn_));
}

Pool::Lease Pool::Acquire() {
  std::unique_ptr<Conn> conn;
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || out_ < size_; });
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
    ++out_;
  }
  if (!conn || !conn->ok()) {
    try {
      conn = std::make_unique<Conn>(uri_);
    } catch (...) {
      std::lock_guard lock(mu_);
      --out_;
      cv_.notify_one();
      throw;
    }
  }
  return Lease(*this, std::move(conn));
}

void Pool::GiveBack(std::unique_ptr<Conn> conn) {
  std::lock_guard lock(mu_);
  --out_;
  // A broken connection is dropped; the next Acquire makes a new one.
  if (conn->ok()) idle_.push_back(std::move(conn));
  cv_.notify_one();
}

}  // namespace mambo::store::pg
