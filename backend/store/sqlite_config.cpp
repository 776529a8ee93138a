// SqliteStore, config role: teams, API tokens, audit, webhooks (store.h: ConfigStore).
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "store/sql_common.h"
#include "store/sqlite_store.h"

namespace mambo::store {

using namespace sql;

// ---------------------------------------------------------------- teams, tokens, audit

void SqliteStore::EnsureTeam(Db& db, const std::string& team_id, int64_t now) {
  Query(db, "INSERT OR IGNORE INTO teams(id, created_at) VALUES (?, ?)")
      .Bind(1, team_id)
      .Bind(2, now)
      .Run();
}

void SqliteStore::InsertAudit(Db& db, const AuditEntry& a) {
  Query(db,
        "INSERT INTO audit_log(id, team_id, actor, at, action, target_id, before, after) "
        "VALUES (?, ?, ?, ?, ?, ?, NULLIF(?, ''), NULLIF(?, ''))")
      .Bind(1, a.id)
      .Bind(2, a.team_id)
      .Bind(3, a.actor)
      .Bind(4, a.at)
      .Bind(5, a.action)
      .Bind(6, a.target_id)
      .Bind(7, JsonText(a.before))
      .Bind(8, JsonText(a.after))
      .Run();
}

namespace {

#define MAMBO_TOKEN_COLUMNS \
  "id, team_id, role, created_at, revoked_at, description, expires_at, last_used_at"

ApiToken TokenRow(Query& q) {
  return ApiToken{q.Text(0),   q.Text(1),   ParseRole(q.Text(2)).value_or(Role::kIngest),
                  q.Int(3),    q.OptInt(4), q.Text(5),
                  q.OptInt(6), q.OptInt(7)};
}

}  // namespace

ApiToken SqliteStore::CreateToken(const std::string& team_id, Role role, const std::string& hash,
                                  int64_t now, const TokenDetails& details) {
  ApiToken token{
      crypto::NewId("tok", now), team_id,     role, now, std::nullopt, details.description,
      details.expires_at,        std::nullopt};
  Write([&](Db& db) {
    EnsureTeam(db, team_id, now);
    Query(db,
          "INSERT INTO api_tokens(id, team_id, role, token_hash, created_at, description, "
          "expires_at) VALUES (?,?,?,?,?,?,?)")
        .Bind(1, token.id)
        .Bind(2, team_id)
        .Bind(3, ToString(role))
        .BindBlob(4, hash)
        .Bind(5, now)
        .Bind(6, token.description)
        .Bind(7, token.expires_at)
        .Run();
    if (details.audit) {
      AuditEntry audit = *details.audit;
      audit.target_id = token.id;
      InsertAudit(db, audit);
    }
  });
  // Only cached lookups of active tokens exist, so a new token needs no invalidation to work.
  if (!MarkTokensChanged()) {
    spdlog::warn("could not update {}: {}", tokens_marker_, std::strerror(errno));
  }
  return token;
}

std::optional<ApiToken> SqliteStore::FindActiveToken(const std::string& hash) {
  return Read([&](Db& db) -> std::optional<ApiToken> {
    Query q(db, "SELECT " MAMBO_TOKEN_COLUMNS
                " FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL");
    q.BindBlob(1, hash);
    if (!q.Step()) return std::nullopt;
    return TokenRow(q);
  });
}

std::vector<ApiToken> SqliteStore::ListTokens(const std::optional<std::string>& team_id) {
  return Read([&](Db& db) {
    Query q(db, "SELECT " MAMBO_TOKEN_COLUMNS
                " FROM api_tokens WHERE ?1 IS NULL OR team_id = ?1 "
                "ORDER BY team_id, created_at, id");
    q.Bind(1, team_id);
    std::vector<ApiToken> out;
    while (q.Step()) out.push_back(TokenRow(q));
    return out;
  });
}

bool SqliteStore::RevokeToken(const std::string& token_id, int64_t now) {
  bool changed = false;
  Write([&](Db& db) {
    Query q(db, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
    q.Bind(1, now).Bind(2, token_id).Run();
    changed = q.Changes() > 0;
  });
  if (changed && !MarkTokensChanged()) {
    // A running webhookd would go on trusting its cached lookup of the token.
    throw StoreError("token revoked, but " + tokens_marker_ + " could not be updated (" +
                     std::strerror(errno) + "): a running webhookd may accept it for up to " +
                     "--token-cache-ms more; restart it to be sure");
  }
  return changed;
}

ConfigStore::RevokeResult SqliteStore::RevokeTeamToken(const std::string& team_id,
                                                       const std::string& token_id,
                                                       const AuditEntry& audit) {
  RevokeResult result = RevokeResult::kNotFound;
  const int64_t now = audit.at;
  Write([&](Db& db) {
    Query q(db, "SELECT role FROM api_tokens WHERE team_id = ? AND id = ? AND revoked_at IS NULL");
    q.Bind(1, team_id).Bind(2, token_id);
    if (!q.Step()) return;
    if (q.Text(0) == ToString(Role::kAdmin)) {
      Query others(db,
                   "SELECT count(*) FROM api_tokens WHERE team_id = ? AND id <> ? AND "
                   "role = 'admin' AND revoked_at IS NULL AND (expires_at IS NULL OR "
                   "expires_at > ?)");
      others.Bind(1, team_id).Bind(2, token_id).Bind(3, now);
      if (others.Step() && others.Int(0) == 0) {
        result = RevokeResult::kLastAdmin;
        return;
      }
    }
    Query(db, "UPDATE api_tokens SET revoked_at = ? WHERE id = ?")
        .Bind(1, now)
        .Bind(2, token_id)
        .Run();
    InsertAudit(db, audit);
    result = RevokeResult::kRevoked;
  });
  if (result == RevokeResult::kRevoked && !MarkTokensChanged()) {
    throw StoreError("token revoked, but " + tokens_marker_ + " could not be updated (" +
                     std::strerror(errno) + "): this webhookd may accept it for up to " +
                     "--token-cache-ms more");
  }
  return result;
}

void SqliteStore::TouchToken(const std::string& token_id, int64_t now) {
  Write([&](Db& db) {
    Query(db, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
        .Bind(1, now)
        .Bind(2, token_id)
        .Run();
  });
}

bool SqliteStore::MarkTokensChanged() {
  // A new file renamed over the old one: it is created while the old one still exists, so its
  // inode number differs, and a reader compares inode and mtime (a mtime alone can repeat within
  // the kernel's timestamp tick). After the commit: a reader that sees the new stamp finds the
  // change in the database.
  const std::string tmp = tokens_marker_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  return fd >= 0 && ::close(fd) == 0 && ::rename(tmp.c_str(), tokens_marker_.c_str()) == 0;
}

std::string SqliteStore::TokensStamp() {
  struct stat st {};
  if (::stat(tokens_marker_.c_str(), &st) != 0) return "";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

void SqliteStore::AppendAudit(const AuditEntry& audit) {
  Write([&](Db& db) { InsertAudit(db, audit); });
}

Page<AuditEntry> SqliteStore::ListAudit(const std::string& team_id, size_t limit,
                                        const std::string& cursor) {
  // Newest first: the question an auditor asks is "what changed lately".
  return Read([&](Db& db) {
    Query q(db,
            "SELECT id, team_id, actor, at, action, target_id, before, after, seq FROM audit_log "
            "WHERE team_id = ? AND (?2 = 0 OR seq < ?2) ORDER BY seq DESC LIMIT ?");
    q.Bind(1, team_id).Bind(2, CursorSeq(cursor)).Bind(3, static_cast<int64_t>(limit + 1));
    Page<AuditEntry> page;
    int64_t last_seq = 0;
    while (q.Step()) {
      if (page.items.size() == limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      AuditEntry a;
      a.id = q.Text(0);
      a.team_id = q.Text(1);
      a.actor = q.Text(2);
      a.at = q.Int(3);
      a.action = q.Text(4);
      a.target_id = q.Text(5);
      a.before = q.IsNull(6) ? Json(nullptr) : ParseJson(q.Text(6)).value_or(Json(nullptr));
      a.after = q.IsNull(7) ? Json(nullptr) : ParseJson(q.Text(7)).value_or(Json(nullptr));
      last_seq = q.Int(8);
      page.items.push_back(std::move(a));
    }
    return page;
  });
}

// ---------------------------------------------------------------- webhooks

std::optional<std::string> SqliteStore::OpenSecret(const std::optional<std::string>& sealed,
                                                   const std::string& webhook_id) {
  if (!sealed) return std::nullopt;
  auto plain = box_.Open(*sealed, webhook_id);
  if (!plain) {
    throw StoreError("secret of webhook " + webhook_id +
                     " does not decrypt: wrong main key for this data dir?");
  }
  return plain;
}

Webhook SqliteStore::LoadWebhookRow(Query& q, SecretLoad secret) {
  Webhook w;
  w.id = q.Text(0);
  w.team_id = q.Text(1);
  w.url = q.Text(2);
  w.events = EventTypes(q.Text(3));
  if (secret == SecretLoad::kDecrypt) {
    w.secret = OpenSecret(q.OptText(4), w.id);
  } else if (!q.IsNull(4)) {
    w.secret = std::string();  // present, not decrypted: lists only show has_secret
  }
  w.active = q.Int(5) != 0;
  w.description = q.OptText(6);
  w.disabled_reason = q.OptText(7);
  w.created_at = q.Int(8);
  w.updated_at = q.Int(9);
  if (const auto rate = q.OptInt(11)) w.rate_limit_per_second = static_cast<int>(*rate);
  w.headers = OpenHeaders(box_, q.OptText(12), w.id);
  return w;
}

bool SqliteStore::CreateWebhook(const Webhook& w, const AuditEntry& audit, size_t max_per_team) {
  const std::optional<std::string> sealed =
      w.secret ? std::optional(box_.Seal(*w.secret, w.id)) : std::nullopt;
  const std::optional<std::string> sealed_headers = SealHeaders(box_, w);
  bool created = false;
  Write([&](Db& db) {
    if (max_per_team != SIZE_MAX) {
      Query count(db, "SELECT count(*) FROM webhooks WHERE team_id = ?");
      count.Bind(1, w.team_id);
      if (count.Step() && static_cast<size_t>(count.Int(0)) >= max_per_team) return;
    }
    EnsureTeam(db, w.team_id, w.created_at);
    Query q(db,
            "INSERT INTO webhooks(id, team_id, url, events, secret_enc, active, description, "
            "disabled_reason, created_at, updated_at, rate_limit_per_second, headers_enc) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
    q.Bind(1, w.id).Bind(2, w.team_id).Bind(3, w.url).Bind(4, DumpJson(Json(w.events)));
    q.BindBlob(5, sealed);
    q.Bind(6, w.active).Bind(7, w.description).Bind(8, w.disabled_reason);
    q.Bind(9, w.created_at).Bind(10, w.updated_at).Bind(11, w.rate_limit_per_second);
    q.BindBlob(12, sealed_headers);
    q.Run();
    InsertAudit(db, audit);
    created = true;
  });
  return created;
}

std::optional<Webhook> SqliteStore::GetWebhook(const std::string& team_id, const std::string& id) {
  return Read([&](Db& db) -> std::optional<Webhook> {
    Query q(db,
            "SELECT " MAMBO_WEBHOOK_COLUMNS " FROM webhooks w WHERE w.team_id = ? AND w.id = ?");
    q.Bind(1, team_id).Bind(2, id);
    if (!q.Step()) return std::nullopt;
    return LoadWebhookRow(q, SecretLoad::kDecrypt);
  });
}

Page<Webhook> SqliteStore::ListWebhooks(const std::string& team_id, size_t limit,
                                        const std::string& cursor) {
  return Read([&](Db& db) {
    Query q(db, "SELECT " MAMBO_WEBHOOK_COLUMNS
                " FROM webhooks w WHERE w.team_id = ? AND w.seq > ? "
                "ORDER BY w.seq LIMIT ?");
    q.Bind(1, team_id).Bind(2, CursorSeq(cursor)).Bind(3, static_cast<int64_t>(limit + 1));
    Page<Webhook> page;
    int64_t last_seq = 0;
    while (q.Step()) {
      if (page.items.size() == limit) {
        page.next_cursor = std::to_string(last_seq);
        break;
      }
      page.items.push_back(LoadWebhookRow(q, SecretLoad::kPresenceOnly));
      last_seq = q.Int(10);
    }
    return page;
  });
}

bool SqliteStore::UpdateWebhook(const Webhook& w, bool secret_changed, const AuditEntry& audit) {
  const std::optional<std::string> sealed =
      w.secret ? std::optional(box_.Seal(*w.secret, w.id)) : std::nullopt;
  const std::optional<std::string> sealed_headers = SealHeaders(box_, w);
  bool changed = false;
  Write([&](Db& db) {
    // A secret changed by PATCH replaces the old one at once (no grace period), so the
    // rotated-out one is dropped when the secret differs from the stored one.
    Query q(db,
            "UPDATE webhooks SET url = ?1, events = ?2, secret_enc = ?3, active = ?4, "
            "description = ?5, disabled_reason = ?6, updated_at = ?7, "
            "rate_limit_per_second = ?8, headers_enc = ?9, "
            "reenabled_at = CASE WHEN active = 0 AND ?4 THEN ?7 ELSE reenabled_at END "
            "WHERE team_id = ?10 AND id = ?11");
    q.Bind(1, w.url).Bind(2, DumpJson(Json(w.events)));
    q.BindBlob(3, sealed);
    q.Bind(4, w.active).Bind(5, w.description).Bind(6, w.disabled_reason).Bind(7, w.updated_at);
    q.Bind(8, w.rate_limit_per_second);
    q.BindBlob(9, sealed_headers);
    q.Bind(10, w.team_id).Bind(11, w.id).Run();
    changed = q.Changes() > 0;
    if (!changed) return;
    if (secret_changed) {
      Query(db, "UPDATE webhooks SET prev_valid_until = NULL WHERE id = ?").Bind(1, w.id).Run();
      Query(db, "DELETE FROM previous_secrets WHERE webhook_id = ?").Bind(1, w.id).Run();
    }
    InsertAudit(db, audit);
  });
  return changed;
}

bool SqliteStore::DeleteWebhook(const std::string& team_id, const std::string& id,
                                const AuditEntry& audit) {
  bool changed = false;
  Write([&](Db& db) {
    Query q(db, "DELETE FROM webhooks WHERE team_id = ? AND id = ?");
    q.Bind(1, team_id).Bind(2, id).Run();
    changed = q.Changes() > 0;
    if (changed) InsertAudit(db, audit);
  });
  return changed;
}

ConfigStore::Rotation SqliteStore::RotateSecret(const std::string& team_id, const std::string& id,
                                                const std::string& new_secret,
                                                int64_t old_valid_until, const AuditEntry& audit) {
  const std::string sealed = box_.Seal(new_secret, id);
  Rotation rotation;
  Write([&](Db& db) {
    {
      Query q(db, "SELECT 1 FROM webhooks WHERE team_id = ? AND id = ?");
      q.Bind(1, team_id).Bind(2, id);
      if (!q.Step()) return;
    }
    Query(db, "DELETE FROM previous_secrets WHERE webhook_id = ? AND valid_until <= ?")
        .Bind(1, id)
        .Bind(2, audit.at)
        .Run();
    {
      Query q(db, "SELECT count(*) FROM previous_secrets WHERE webhook_id = ?");
      q.Bind(1, id);
      if (q.Step() && q.Int(0) >= static_cast<int64_t>(kMaxPreviousSecrets)) {
        rotation.status = Rotation::Status::kTooMany;
        return;
      }
    }
    // The current secret (if any) joins the previous ones; its sealed form stays valid since
    // it is bound to the same webhook id.
    Query(db,
          "INSERT INTO previous_secrets (webhook_id, secret_enc, valid_until) "
          "SELECT id, secret_enc, ? FROM webhooks WHERE id = ? AND secret_enc IS NOT NULL")
        .Bind(1, old_valid_until)
        .Bind(2, id)
        .Run();
    Query(db,
          "UPDATE webhooks SET secret_enc = ?1, updated_at = ?2, prev_valid_until = "
          "(SELECT MAX(valid_until) FROM previous_secrets WHERE webhook_id = ?3) WHERE id = ?3")
        .BindBlob(1, sealed)
        .Bind(2, audit.at)
        .Bind(3, id)
        .Run();
    Query q(db,
            "SELECT valid_until FROM previous_secrets WHERE webhook_id = ? "
            "ORDER BY valid_until DESC");
    q.Bind(1, id);
    while (q.Step()) rotation.previous_valid_until.push_back(q.Int(0));
    rotation.status = Rotation::Status::kRotated;
    InsertAudit(db, audit);
  });
  return rotation;
}

bool SqliteStore::DisableWebhook(const std::string& team_id, const std::string& id,
                                 const std::string& reason, const AuditEntry& audit) {
  bool changed = false;
  Write([&](Db& db) {
    Query q(db,
            "UPDATE webhooks SET active = 0, disabled_reason = ?, updated_at = ? "
            "WHERE team_id = ? AND id = ? AND active = 1");
    q.Bind(1, reason).Bind(2, audit.at).Bind(3, team_id).Bind(4, id).Run();
    changed = q.Changes() > 0;
    if (changed) InsertAudit(db, audit);
  });
  return changed;
}

}  // namespace mambo::store
