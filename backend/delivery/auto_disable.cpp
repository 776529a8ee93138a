#include "delivery/auto_disable.h"

#include <spdlog/spdlog.h>

#include "crypto/crypto.h"
#include "mambo/validation.h"

namespace mambo::delivery {

int AutoDisable::Check() {
  const int64_t now = clock_.NowMs();
  int disabled = 0;
  try {
    // Tell the operator half-way, before it happens: once per webhook per process.
    for (const Webhook& w : history_.FailingWebhooks(now - after_ms_ / 2)) {
      if (warned_.insert(w.id).second) {
        spdlog::warn(
            "webhook {} of team {} ({}) has had only failures for {} hours; it will be disabled "
            "if nothing succeeds within {} more hours",
            w.id, w.team_id, RedactUrl(w.url), after_ms_ / 2 / 3600000, after_ms_ / 2 / 3600000);
      }
    }
    for (const Webhook& w : history_.FailingWebhooks(now - after_ms_)) {
      const std::string reason =
          "Disabled automatically at " + FormatTimestamp(now) +
          ": every delivery failed and exhausted its retries, with no success for " +
          std::to_string(after_ms_ / 3600000) +
          " hours. Fix the endpoint, re-enable the webhook and recover the failed deliveries.";
      Webhook after = w;
      after.active = false;
      after.disabled_reason = reason;
      store::AuditEntry audit{crypto::NewId("aud", now), w.team_id, "system", now,
                              "webhook.auto_disable",    w.id,      Json(w),  Json(after)};
      if (config_.DisableWebhook(w.team_id, w.id, reason, audit)) {
        ++disabled;
        spdlog::warn("webhook {} of team {} ({}) auto-disabled: {}", w.id, w.team_id,
                     RedactUrl(w.url), reason);
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("auto-disable check failed: {}", e.what());
  }
  return disabled;
}

}  // namespace mambo::delivery
