#pragma once
// The PostgreSQL store, for several webhookd instances sharing one database (`--database
// postgresql://...`). PgDatabase owns the connection pool, applies the schema migrations under
// an advisory lock (instances starting together migrate once) and checks the main key; each
// role of store.h is a class over it:
//   PgConfigStore   tokens, webhooks, audit (pg_config.cpp)
// The queue and history roles follow (issue 12); until then webhookd serves from SQLite only.

#include <memory>
#include <string>

#include "crypto/crypto.h"
#include "store/pg_db.h"
#include "store/store.h"

namespace mambo::store {

class PgDatabase {
 public:
  struct Options {
    size_t pool_size = 16;
  };
  // Connects, migrates (under pg_advisory_lock, so concurrent starts are safe) and checks that
  // `box` holds the main key the database's secrets were sealed with: throws StoreError with a
  // message for the operator otherwise.
  PgDatabase(const std::string& uri, crypto::SecretBox box, Options options);
  PgDatabase(const std::string& uri, crypto::SecretBox box)
      : PgDatabase(uri, std::move(box), Options{}) {}

  pg::Pool& pool() { return pool_; }
  const crypto::SecretBox& box() const { return box_; }
  // The schema version this build migrates to.
  static int64_t SchemaVersion();

 private:
  void Migrate(pg::Conn& c);
  void CheckMainKey(pg::Conn& c);
  pg::Pool pool_;
  crypto::SecretBox box_;
};

class PgConfigStore final : public ConfigStore {
 public:
  explicit PgConfigStore(PgDatabase& db) : db_(db) {}

  ApiToken CreateToken(const std::string& team_id, Role role, const std::string& hash,
                       int64_t now) override;
  std::optional<ApiToken> FindActiveToken(const std::string& hash) override;
  std::vector<ApiToken> ListTokens(const std::optional<std::string>& team_id) override;
  bool RevokeToken(const std::string& token_id, int64_t now) override;
  std::string TokensStamp() override;
  bool CreateWebhook(const Webhook& webhook, const AuditEntry& audit,
                     size_t max_per_team = SIZE_MAX) override;
  std::optional<Webhook> GetWebhook(const std::string& team_id, const std::string& id) override;
  Page<Webhook> ListWebhooks(const std::string& team_id, size_t limit,
                             const std::string& cursor) override;
  bool UpdateWebhook(const Webhook& webhook, bool secret_changed, const AuditEntry& audit) override;
  bool DeleteWebhook(const std::string& team_id, const std::string& id,
                     const AuditEntry& audit) override;
  bool RotateSecret(const std::string& team_id, const std::string& id,
                    const std::string& new_secret, int64_t old_valid_until,
                    const AuditEntry& audit) override;
  void AppendAudit(const AuditEntry& audit) override;
  Page<AuditEntry> ListAudit(const std::string& team_id, size_t limit,
                             const std::string& cursor) override;
  bool DisableWebhook(const std::string& team_id, const std::string& id, const std::string& reason,
                      const AuditEntry& audit) override;

 private:
  std::optional<std::string> Seal(const Webhook& w) const;
  Webhook LoadWebhookRow(const pg::Result& r, int row, bool decrypt) const;
  PgDatabase& db_;
};

}  // namespace mambo::store
