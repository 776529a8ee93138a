// Rows the store tests create: a webhook with a fresh id and a valid secret, and an audit entry.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "store/store.h"

namespace mambo::testing {

inline store::AuditEntry TestAudit(const std::string& team, const std::string& target,
                                   int64_t at = 1, const std::string& action = "test") {
  return store::AuditEntry{crypto::NewId("aud", at), team, "tok_test", at, action, target, nullptr,
                           Json{{"target", target}}};
}

inline Webhook TestWebhook(const std::string& team,
                           std::vector<std::string> events = {"device.enroll"},
                           bool active = true) {
  Webhook w;
  w.id = crypto::NewId("wh", 1000);
  w.team_id = team;
  w.url = "https://example.com/" + w.id;
  w.events = std::move(events);
  w.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  w.active = active;
  w.created_at = w.updated_at = 1000;
  return w;
}

}  // namespace mambo::testing
