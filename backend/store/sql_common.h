#pragma once
// What the SQL stores (SQLite and PostgreSQL, one schema model) share: column lists, the requeue
// rule and small helpers. Private to backend/store/.

#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "mambo/models.h"
#include "mambo/text.h"
#include "mambo/validation.h"
#include "store/store.h"

// Column lists read by LoadWebhookRow and LoadDeliveryRow, in their order. Macros, so each
// query stays one string literal (the statement cache is keyed by the literal's address).
#define MAMBO_WEBHOOK_COLUMNS                                                 \
  "w.id, w.team_id, w.url, w.events, w.secret_enc, w.active, w.description, " \
  "w.disabled_reason, w.created_at, w.updated_at, w.seq, w.rate_limit_per_second, w.headers_enc"
#define MAMBO_DELIVERY_COLUMNS                                                         \
  "d.id, d.webhook_id, d.team_id, e.id, e.type, d.status, d.attempt_count, d.due_at, " \
  "d.created_at, d.updated_at, d.last_http_status, COALESCE(d.last_cause, ''), d.seq"

// The status of a delivery put back in the queue (lease released or reclaimed, resend): never
// tried is pending, tried before is failed (waiting for its next attempt).
#define MAMBO_REQUEUED_STATUS "CASE WHEN attempt_count = 0 THEN 'pending' ELSE 'failed' END"

namespace mambo::store::sql {

// Decrypting a secret costs an AES-GCM open per row; lists and audit snapshots only need to know
// that one exists (Webhook::secret is then an empty string: never store such a Webhook back).
enum class SecretLoad { kDecrypt, kPresenceOnly };

inline int64_t CursorSeq(const std::string& cursor) {
  if (cursor.empty()) return 0;
  return std::stoll(cursor);  // the API checks the cursor is digits before calling
}

// A webhook's `events` column (a JSON array of type ids) as a list; anything else is empty.
inline std::vector<std::string> EventTypes(const std::string& json) {
  std::vector<std::string> types;
  if (auto events = ParseJson(json); events && events->is_array()) {
    for (const auto& e : *events) {
      if (e.is_string()) types.push_back(e.get<std::string>());
    }
  }
  return types;
}

// A webhook's custom headers are sealed together, as the JSON text of [[name, value], ...]; none
// is NULL. The AAD names the column as well as the row, so that the sealed secret of the same
// webhook cannot be passed off as its headers.
inline std::string HeadersAad(const std::string& webhook_id) {
  return webhook_id + "/headers";
}
inline std::optional<std::string> SealHeaders(const crypto::SecretBox& box, const Webhook& w) {
  if (w.headers.empty()) return std::nullopt;
  return box.Seal(DumpJson(Json(w.headers)), HeadersAad(w.id));
}
// Opened for every row, lists too: responses name the headers (with masked values).
inline Headers OpenHeaders(const crypto::SecretBox& box, const std::optional<std::string>& sealed,
                           const std::string& webhook_id) {
  if (!sealed) return {};
  const auto plain = box.Open(*sealed, HeadersAad(webhook_id));
  auto parsed = plain ? ParseJson(*plain) : std::nullopt;
  if (!parsed || !parsed->is_array()) {
    throw StoreError("custom headers of webhook " + webhook_id +
                     " do not decrypt: wrong main key for this database?");
  }
  Headers headers;
  for (const auto& h : *parsed) {
    if (h.is_array() && h.size() == 2 && h[0].is_string() && h[1].is_string()) {
      headers.emplace_back(h[0].get<std::string>(), h[1].get<std::string>());
    }
  }
  return headers;
}

inline std::string JsonText(const Json& j) {
  return j.is_null() ? std::string() : DumpJson(j);
}

}  // namespace mambo::store::sql
