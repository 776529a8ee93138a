// PgConfigStore: teams, API tokens, audit and webhooks on PostgreSQL (store.h: ConfigStore).
// Every mutation and its audit entry share one transaction, as in the SQLite store.
#include "store/pg_internal.h"
#include "store/pg_store.h"
#include "store/sql_common.h"

namespace mambo::store {

using namespace sql;
using pg::InsertAudit;
using pg::LoadWebhookRow;
using pg::Param;

void pg::EnsureTeam(pg::Conn& c, const std::string& team_id, int64_t now) {
  c.Run("INSERT INTO teams(id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        {team_id, now});
}

void pg::InsertAudit(pg::Conn& c, const AuditEntry& a) {
  c.Run(
      "INSERT INTO audit_log(id, team_id, actor, at, action, target_id, before, after) "
      "VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), NULLIF($8, ''))",
      {a.id, a.team_id, a.actor, a.at, a.action, a.target_id, JsonText(a.before),
       JsonText(a.after)});
}

Webhook pg::LoadWebhookRow(const pg::Result& r, int row, const crypto::SecretBox& box,
                           SecretLoad secret) {
  Webhook w;
  w.id = r.Text(row, 0);
  w.team_id = r.Text(row, 1);
  w.url = r.Text(row, 2);
  w.events = EventTypes(r.Text(row, 3));
  if (!r.IsNull(row, 4)) {
    if (secret == SecretLoad::kDecrypt) {
      w.secret = box.Open(r.Bytes(row, 4), w.id);
      if (!w.secret) {
        throw StoreError("secret of webhook " + w.id +
                         " does not decrypt: wrong main key for this database?");
      }
    } else {
      w.secret = std::string();  // present, not decrypted: lists only show has_secret
    }
  }
  w.active = r.Bool(row, 5);
  w.description = r.OptText(row, 6);
  w.disabled_reason = r.OptText(row, 7);
  w.created_at = r.Int(row, 8);
  w.updated_at = r.Int(row, 9);
  if (const auto rate = r.OptInt(row, 11)) w.rate_limit_per_second = static_cast<int>(*rate);
  w.headers =
      OpenHeaders(box, r.IsNull(row, 12) ? std::nullopt : std::optional(r.Bytes(row, 12)), w.id);
  return w;
}

namespace {

// Instances cache token lookups while this stamp stays the same (ApiServer); the notification
// lets a listening instance drop its cache without waiting for its next look at the stamp.
void TokensChanged(pg::Conn& c) {
  c.Run("UPDATE stamps SET value = value + 1 WHERE name = 'tokens'");
  c.Run("SELECT pg_notify('mambo_tokens', '')");
}

#define MAMBO_TOKEN_COLUMNS \
  "id, team_id, role, created_at, revoked_at, description, expires_at, last_used_at"

ApiToken TokenRow(const pg::Result& r, int row) {
  return ApiToken{
      r.Text(row, 0),   r.Text(row, 1),   ParseRole(r.Text(row, 2)).value_or(Role::kIngest),
      r.Int(row, 3),    r.OptInt(row, 4), r.Text(row, 5),
      r.OptInt(row, 6), r.OptInt(row, 7)};
}

}  // namespace

ApiToken PgConfigStore::CreateToken(const std::string& team_id, Role role, const std::string& hash,
                                    int64_t now, const TokenDetails& details) {
  ApiToken token{
      crypto::NewId("tok", now), team_id,     role, now, std::nullopt, details.description,
      details.expires_at,        std::nullopt};
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  pg::EnsureTeam(*c, team_id, now);
  c->Run(
      "INSERT INTO api_tokens(id, team_id, role, token_hash, created_at, description, expires_at) "
      "VALUES ($1, $2, $3, $4, $5, $6, $7)",
      {token.id, team_id, ToString(role), Param::Bytes(hash), now, token.description,
       token.expires_at});
  if (details.audit) {
    AuditEntry audit = *details.audit;
    audit.target_id = token.id;
    InsertAudit(*c, audit);
  }
  TokensChanged(*c);
  tx.Commit();
  RefreshTokensStamp();
  return token;
}

std::optional<ApiToken> PgConfigStore::FindActiveToken(const std::string& hash) {
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run("SELECT " MAMBO_TOKEN_COLUMNS
                        " FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
                        {Param::Bytes(hash)});
  if (r.rows() == 0) return std::nullopt;
  return TokenRow(r, 0);
}

std::vector<ApiToken> PgConfigStore::ListTokens(const std::optional<std::string>& team_id) {
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run("SELECT " MAMBO_TOKEN_COLUMNS
                        " FROM api_tokens WHERE $1::text IS NULL OR team_id = $1 "
                        "ORDER BY team_id, created_at, id",
                        {team_id});
  std::vector<ApiToken> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(TokenRow(r, i));
  return out;
}

bool PgConfigStore::RevokeToken(const std::string& token_id, int64_t now) {
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  const bool changed =
      c->Run("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
             {now, token_id})
          .affected() > 0;
  if (changed) TokensChanged(*c);
  tx.Commit();
  if (changed) RefreshTokensStamp();
  return changed;
}

ConfigStore::RevokeResult PgConfigStore::RevokeTeamToken(const std::string& team_id,
                                                         const std::string& token_id,
                                                         const AuditEntry& audit) {
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  // The team's admin tokens are locked together, so two revocations at once cannot each leave
  // the other as the last admin and then both go through.
  const pg::Result admins = c->Run(
      "SELECT id, role, revoked_at IS NULL, "
      "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) "
      "FROM api_tokens WHERE team_id = $1 AND (role = 'admin' OR id = $3) FOR UPDATE",
      {team_id, audit.at, token_id});
  bool found = false, is_admin = false;
  int64_t other_usable_admins = 0;
  for (int i = 0; i < admins.rows(); ++i) {
    if (admins.Text(i, 0) == token_id) {
      found = admins.Bool(i, 2);  // an expired token can still be revoked; a revoked one is gone
      is_admin = admins.Text(i, 1) == ToString(Role::kAdmin);
    } else if (admins.Bool(i, 3)) {
      ++other_usable_admins;
    }
  }
  if (!found) return RevokeResult::kNotFound;
  if (is_admin && other_usable_admins == 0) return RevokeResult::kLastAdmin;
  c->Run("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2", {audit.at, token_id});
  InsertAudit(*c, audit);
  TokensChanged(*c);
  tx.Commit();
  RefreshTokensStamp();
  return RevokeResult::kRevoked;
}

void PgConfigStore::TouchToken(const std::string& token_id, int64_t now) {
  auto c = db_.pool().Acquire();
  c->Run("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", {now, token_id});
}

std::string PgConfigStore::TokensStamp() {
  if (cache_stamp_) {
    std::lock_guard lock(stamp_mu_);
    if (!stamp_.empty()) return stamp_;
  }
  return ReadTokensStamp();
}

std::string PgConfigStore::ReadTokensStamp() {
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run("SELECT value FROM stamps WHERE name = 'tokens'");
  std::string stamp = r.rows() > 0 ? r.Text(0, 0) : "";
  std::lock_guard lock(stamp_mu_);
  stamp_ = stamp;
  return stamp;
}

void PgConfigStore::RefreshTokensStamp() {
  try {
    ReadTokensStamp();
  } catch (const StoreError&) {
    // The database is away: the cached lookups stay as they were until it is back.
  }
}

void PgConfigStore::AppendAudit(const AuditEntry& audit) {
  auto c = db_.pool().Acquire();
  InsertAudit(*c, audit);
}

Page<AuditEntry> PgConfigStore::ListAudit(const std::string& team_id, size_t limit,
                                          const std::string& cursor) {
  // Newest first: the question an auditor asks is "what changed lately".
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run(
      "SELECT id, team_id, actor, at, action, target_id, before, after, seq FROM audit_log "
      "WHERE team_id = $1 AND ($2::bigint = 0 OR seq < $2::bigint) ORDER BY seq DESC LIMIT $3",
      {team_id, CursorSeq(cursor), limit + 1});
  Page<AuditEntry> page;
  for (int i = 0; i < r.rows(); ++i) {
    if (page.items.size() == limit) {
      page.next_cursor = std::to_string(r.Int(i - 1, 8));
      break;
    }
    AuditEntry a;
    a.id = r.Text(i, 0);
    a.team_id = r.Text(i, 1);
    a.actor = r.Text(i, 2);
    a.at = r.Int(i, 3);
    a.action = r.Text(i, 4);
    a.target_id = r.Text(i, 5);
    a.before = r.IsNull(i, 6) ? Json(nullptr) : ParseJson(r.Text(i, 6)).value_or(Json(nullptr));
    a.after = r.IsNull(i, 7) ? Json(nullptr) : ParseJson(r.Text(i, 7)).value_or(Json(nullptr));
    page.items.push_back(std::move(a));
  }
  return page;
}

std::optional<std::string> PgConfigStore::Seal(const Webhook& w) const {
  return w.secret ? std::optional(db_.box().Seal(*w.secret, w.id)) : std::nullopt;
}

bool PgConfigStore::CreateWebhook(const Webhook& w, const AuditEntry& audit, size_t max_per_team) {
  const std::optional<std::string> sealed = Seal(w);
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  pg::EnsureTeam(*c, w.team_id, w.created_at);
  if (max_per_team != SIZE_MAX) {
    // The team's row is the lock: concurrent creates of one team (on any instance) count one
    // after the other, so they cannot pass the bound together.
    c->Run("SELECT 1 FROM teams WHERE id = $1 FOR UPDATE", {w.team_id});
    pg::Result count = c->Run("SELECT count(*) FROM webhooks WHERE team_id = $1", {w.team_id});
    if (static_cast<size_t>(count.Int(0, 0)) >= max_per_team) return false;
  }
  c->Run(
      "INSERT INTO webhooks(id, team_id, url, events, secret_enc, active, description, "
      "disabled_reason, created_at, updated_at, rate_limit_per_second, headers_enc) "
      "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
      {w.id, w.team_id, w.url, DumpJson(Json(w.events)), Param::Bytes(sealed), w.active,
       w.description, w.disabled_reason, w.created_at, w.updated_at, w.rate_limit_per_second,
       Param::Bytes(SealHeaders(db_.box(), w))});
  InsertAudit(*c, audit);
  tx.Commit();
  return true;
}

std::optional<Webhook> PgConfigStore::GetWebhook(const std::string& team_id,
                                                 const std::string& id) {
  auto c = db_.pool().Acquire();
  pg::Result r =
      c->Run("SELECT " MAMBO_WEBHOOK_COLUMNS " FROM webhooks w WHERE w.team_id = $1 AND w.id = $2",
             {team_id, id});
  if (r.rows() == 0) return std::nullopt;
  return LoadWebhookRow(r, 0, db_.box(), SecretLoad::kDecrypt);
}

Page<Webhook> PgConfigStore::ListWebhooks(const std::string& team_id, size_t limit,
                                          const std::string& cursor) {
  auto c = db_.pool().Acquire();
  pg::Result r = c->Run("SELECT " MAMBO_WEBHOOK_COLUMNS
                        " FROM webhooks w WHERE w.team_id = $1 AND w.seq > $2::bigint "
                        "ORDER BY w.seq LIMIT $3",
                        {team_id, CursorSeq(cursor), limit + 1});
  Page<Webhook> page;
  for (int i = 0; i < r.rows(); ++i) {
    if (page.items.size() == limit) {
      page.next_cursor = std::to_string(r.Int(i - 1, 10));
      break;
    }
    page.items.push_back(LoadWebhookRow(r, i, db_.box(), SecretLoad::kPresenceOnly));
  }
  return page;
}

bool PgConfigStore::UpdateWebhook(const Webhook& w, bool secret_changed, const AuditEntry& audit) {
  const std::optional<std::string> sealed = Seal(w);
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  // A secret changed by PATCH replaces the old one at once (no grace period): the rotated-out
  // one is dropped with it.
  const bool changed =
      c->Run(
           "UPDATE webhooks SET url = $1, events = $2, secret_enc = $3, active = $4, "
           "description = $5, disabled_reason = $6, updated_at = $7, "
           "prev_valid_until = CASE WHEN $10 THEN NULL ELSE prev_valid_until END, "
           "reenabled_at = CASE WHEN NOT active AND $4 THEN $7 ELSE reenabled_at END, "
           "rate_limit_per_second = $11, headers_enc = $12 WHERE team_id = $8 AND id = $9",
           {w.url, DumpJson(Json(w.events)), Param::Bytes(sealed), w.active, w.description,
            w.disabled_reason, w.updated_at, w.team_id, w.id, secret_changed,
            w.rate_limit_per_second, Param::Bytes(SealHeaders(db_.box(), w))})
          .affected() > 0;
  if (!changed) return false;
  if (secret_changed) c->Run("DELETE FROM previous_secrets WHERE webhook_id = $1", {w.id});
  InsertAudit(*c, audit);
  tx.Commit();
  return true;
}

bool PgConfigStore::DeleteWebhook(const std::string& team_id, const std::string& id,
                                  const AuditEntry& audit) {
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  if (c->Run("SELECT 1 FROM webhooks WHERE team_id = $1 AND id = $2 FOR UPDATE", {team_id, id})
          .rows() == 0) {
    return false;
  }
  // Its deliveries, then their attempts, in a statement of its own: one that an attempt being
  // recorded made the delete wait for has committed by then, so its snapshot has the attempt
  // (a later one finds the delivery gone and records nothing). Then its queue rows.
  const pg::Result deleted =
      c->Run("DELETE FROM deliveries WHERE webhook_id = $1 RETURNING id", {id});
  std::vector<std::string> ids;
  for (int i = 0; i < deleted.rows(); ++i) ids.push_back(deleted.Text(i, 0));
  c->Run("DELETE FROM attempts WHERE delivery_id = ANY($1::text[])", {pg::Array::Of(ids)});
  c->Run("DELETE FROM queue WHERE webhook_id = $1", {id});
  c->Run("DELETE FROM webhooks WHERE id = $1", {id});
  InsertAudit(*c, audit);
  tx.Commit();
  return true;
}

ConfigStore::Rotation PgConfigStore::RotateSecret(const std::string& team_id, const std::string& id,
                                                  const std::string& new_secret,
                                                  int64_t old_valid_until,
                                                  const AuditEntry& audit) {
  const std::string sealed = db_.box().Seal(new_secret, id);
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  Rotation rotation;
  // The row lock makes concurrent rotations of one webhook take turns.
  if (c->Run("SELECT 1 FROM webhooks WHERE team_id = $1 AND id = $2 FOR UPDATE", {team_id, id})
          .rows() == 0) {
    return rotation;
  }
  c->Run("DELETE FROM previous_secrets WHERE webhook_id = $1 AND valid_until <= $2",
         {id, audit.at});
  if (c->Run("SELECT count(*) FROM previous_secrets WHERE webhook_id = $1", {id}).Int(0, 0) >=
      static_cast<int64_t>(kMaxPreviousSecrets)) {
    rotation.status = Rotation::Status::kTooMany;
    return rotation;
  }
  // The current secret (if any) joins the previous ones; its sealed form stays valid since it
  // is bound to the same webhook id.
  c->Run(
      "INSERT INTO previous_secrets (webhook_id, secret_enc, valid_until) "
      "SELECT id, secret_enc, $2::bigint FROM webhooks WHERE id = $1 AND secret_enc IS NOT NULL",
      {id, old_valid_until});
  c->Run(
      "UPDATE webhooks SET secret_enc = $2, updated_at = $3, prev_valid_until = "
      "(SELECT MAX(valid_until) FROM previous_secrets WHERE webhook_id = $1) WHERE id = $1",
      {id, Param::Bytes(sealed), audit.at});
  const pg::Result r = c->Run(
      "SELECT valid_until FROM previous_secrets WHERE webhook_id = $1 ORDER BY valid_until DESC",
      {id});
  for (int i = 0; i < r.rows(); ++i) rotation.previous_valid_until.push_back(r.Int(i, 0));
  InsertAudit(*c, audit);
  tx.Commit();
  rotation.status = Rotation::Status::kRotated;
  return rotation;
}

bool PgConfigStore::DisableWebhook(const std::string& team_id, const std::string& id,
                                   const std::string& reason, const AuditEntry& audit) {
  auto c = db_.pool().Acquire();
  pg::Tx tx(*c);
  if (c->Run("UPDATE webhooks SET active = false, disabled_reason = $1, updated_at = $2 "
             "WHERE team_id = $3 AND id = $4 AND active",
             {reason, audit.at, team_id, id})
          .affected() == 0) {
    return false;
  }
  InsertAudit(*c, audit);
  tx.Commit();
  return true;
}

}  // namespace mambo::store
