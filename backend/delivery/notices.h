#pragma once
// Operational notices (shared/catalog.h: webhook.failing, webhook.disabled, webhook.recovered):
// events webhookd sends about a team's webhooks to the team's other webhooks subscribed to
// them, never to the one they are about. Each is also an event in the team's log and an entry
// in its audit log.
//
// Check() runs as a periodic job (one instance at a time across a cluster) and asks the store
// what is due: a webhook failing for half the auto-disable period, one that webhookd disabled
// (auto-disable, 410 Gone), and the first success of one announced failing or disabled. Each
// notice's event id is made from its webhook and the time of what it tells, so a notice made
// twice (a crash before its state was noted, two instances) is queued once. A person switching
// a webhook off is told at once by the API (SendDisabledByPerson).

#include <cstdint>
#include <functional>
#include <string>

#include "delivery/clock.h"
#include "store/store.h"

namespace mambo::delivery {

class Notices {
 public:
  Notices(store::StoreRoles stores, const Clock& clock, int64_t auto_disable_after_ms,
          std::function<void()> on_work)
      : stores_(stores),
        clock_(clock),
        after_ms_(auto_disable_after_ms),
        on_work_(std::move(on_work)) {}

  // One pass; returns how many notices it queued. Store errors are logged, not thrown: what
  // was not noted is found again by the next pass.
  int Check();
  // `webhook` was switched off by `actor` (a token id) at `at`.
  void SendDisabledByPerson(const Webhook& webhook, const std::string& actor, int64_t at);

 private:
  // Queues `type` about `subject` (once per `key`), audited as `type` by "system"; whether it
  // was new.
  bool Send(const Webhook& subject, std::string_view type, int64_t key, Json details, int64_t now,
            const std::string& actor);

  store::StoreRoles stores_;
  const Clock& clock_;
  const int64_t after_ms_;
  std::function<void()> on_work_;
};

}  // namespace mambo::delivery
