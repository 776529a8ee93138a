#pragma once
// What the SQL stores (SQLite and PostgreSQL, one schema model) share: column lists, the requeue
// rule and small helpers. Private to backend/store/.

#include <string>
#include <vector>

#include "mambo/models.h"
#include "mambo/text.h"
#include "mambo/validation.h"

// Column lists read by LoadWebhookRow and LoadDeliveryRow, in their order. Macros, so each
// query stays one string literal (the statement cache is keyed by the literal's address).
#define MAMBO_WEBHOOK_COLUMNS                                                 \
  "w.id, w.team_id, w.url, w.events, w.secret_enc, w.active, w.description, " \
  "w.disabled_reason, w.created_at, w.updated_at, w.seq, w.rate_limit_per_second"
#define MAMBO_DELIVERY_COLUMNS                                                         \
  "d.id, d.webhook_id, d.team_id, e.id, e.type, d.status, d.attempt_count, d.due_at, " \
  "d.created_at, d.updated_at, d.last_http_status, COALESCE(d.last_cause, ''), d.seq"

// The status of a delivery put back in the queue (lease released or reclaimed, resend): never
// tried is pending, tried before is failed (waiting for its next attempt).
#define MAMBO_REQUEUED_STATUS "CASE WHEN attempt_count = 0 THEN 'pending' ELSE 'failed' END"

namespace mambo::store::sql {

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

inline std::string JsonText(const Json& j) {
  return j.is_null() ? std::string() : DumpJson(j);
}

}  // namespace mambo::store::sql
