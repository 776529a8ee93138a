#pragma once
// Auto-disable: a webhook whose deliveries have only failed, each exhausting its retries, with
// no success for `after_ms` (5 days by default) is disabled with a reason the team sees, and an
// audit entry by "system". The operator is warned in the log half-way there. A periodic job
// (app/periodic_jobs.h) calls Check(), in one instance at a time when several share a store.

#include <cstdint>
#include <set>
#include <string>

#include "delivery/clock.h"
#include "store/store.h"

namespace mambo::delivery {

class AutoDisable {
 public:
  AutoDisable(store::HistoryStore& history, store::ConfigStore& config, const Clock& clock,
              int64_t after_ms)
      : history_(history), config_(config), clock_(clock), after_ms_(after_ms) {}

  // One pass; returns how many webhooks it disabled. Store errors are logged, not thrown.
  int Check();

 private:
  store::HistoryStore& history_;
  store::ConfigStore& config_;
  const Clock& clock_;
  const int64_t after_ms_;
  std::set<std::string> warned_;  // webhooks already warned about by this process
};

}  // namespace mambo::delivery
