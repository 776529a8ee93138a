#pragma once
// What the PostgreSQL store's source files share. Private to backend/store/pg_*.cpp.

#include "crypto/crypto.h"
#include "store/pg_db.h"
#include "store/sql_common.h"
#include "store/store.h"

namespace mambo::store::pg {

void EnsureTeam(Conn& c, const std::string& team_id, int64_t now);
void InsertAudit(Conn& c, const AuditEntry& audit);
// A row of MAMBO_WEBHOOK_COLUMNS (sql_common.h: SecretLoad).
Webhook LoadWebhookRow(const Result& r, int row, const crypto::SecretBox& box,
                       sql::SecretLoad secret);
// A row of MAMBO_DELIVERY_COLUMNS.
Delivery LoadDeliveryRow(const Result& r, int row);

}  // namespace mambo::store::pg
