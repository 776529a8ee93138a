#include "delivery/notices.h"

#include <spdlog/spdlog.h>

#include "crypto/crypto.h"
#include "mambo/catalog.h"
#include "mambo/validation.h"

namespace mambo::delivery {
namespace {

// Who the notice is about, as a receiver may show it: the URL without user info or query.
Json Subject(const Webhook& w) {
  Json j{{"id", w.id}, {"url", RedactUrl(w.url)}};
  if (w.description) j["description"] = *w.description;
  return j;
}

// "ntc_" + a letter for the kind + the webhook id + the time it is about: at most 64
// characters, the event id pattern of the API's routes.
std::string NoticeId(std::string_view type, const std::string& webhook_id, int64_t key) {
  const char kind = type == kWebhookFailing ? 'f' : type == kWebhookDisabled ? 'd' : 'r';
  return std::string("ntc") + kind + "_" + webhook_id + "_" + std::to_string(key);
}

}  // namespace

bool Notices::Send(const Webhook& subject, std::string_view type, int64_t key, Json details,
                   int64_t now, const std::string& actor) {
  Event e;
  e.id = NoticeId(type, subject.id, key);
  e.type = std::string(type);
  e.team_id = subject.team_id;
  e.timestamp = now;
  e.data = std::move(details);
  e.data["webhook"] = Subject(subject);
  // The team's other active webhooks that asked for this notice.
  std::vector<std::string> targets;
  std::string cursor;
  do {
    store::Page<Webhook> page = stores_.config.ListWebhooks(subject.team_id, 200, cursor);
    for (const Webhook& w : page.items) {
      if (w.id == subject.id || !w.active) continue;
      for (const std::string& t : w.events) {
        if (t == type) {
          targets.push_back(w.id);
          break;
        }
      }
    }
    cursor = page.next_cursor.value_or("");
  } while (!cursor.empty());
  const store::IngestResult r = stores_.queue.QueueToWebhooks(e, targets, now);
  if (!r.created) return false;
  stores_.config.AppendAudit(store::AuditEntry{crypto::NewId("aud", now), subject.team_id, actor,
                                               now, std::string(type), subject.id, nullptr,
                                               e.data});
  spdlog::info("notice {} about webhook {} of team {} queued to {} webhooks", type, subject.id,
               subject.team_id, targets.size());
  if (!targets.empty() && on_work_) on_work_();
  return true;
}

int Notices::Check() {
  const int64_t now = clock_.NowMs();
  int sent = 0;
  try {
    using Kind = store::HistoryStore::NoticeCandidate::Kind;
    for (const auto& c : stores_.history.NoticeCandidates(now - after_ms_ / 2)) {
      switch (c.kind) {
        case Kind::kFailing:
          sent += Send(c.webhook, kWebhookFailing, c.since,
                       Json{{"failing_since", FormatTimestamp(c.since)},
                            {"disable_at", FormatTimestamp(c.since + after_ms_)}},
                       now, "system");
          stores_.history.SetNoticeState(c.webhook.id, "failing", now);
          break;
        case Kind::kDisabled:
          sent += Send(c.webhook, kWebhookDisabled, c.since,
                       Json{{"reason", c.webhook.disabled_reason.value_or("")},
                            {"disabled_at", FormatTimestamp(c.since)},
                            {"by", "system"}},
                       now, "system");
          stores_.history.SetNoticeState(c.webhook.id, "disabled", now);
          break;
        case Kind::kRecovered:
          sent += Send(c.webhook, kWebhookRecovered, c.since,
                       Json{{"announced_at", FormatTimestamp(c.since)},
                            {"recovered_at", FormatTimestamp(c.at)}},
                       now, "system");
          stores_.history.SetNoticeState(c.webhook.id, std::nullopt, now);
          break;
      }
    }
  } catch (const std::exception& e) {
    spdlog::error("notices check failed: {}", e.what());
  }
  return sent;
}

void Notices::SendDisabledByPerson(const Webhook& webhook, const std::string& actor, int64_t at) {
  try {
    Send(webhook, kWebhookDisabled, at,
         Json{{"reason", "Switched off by " + actor},
              {"disabled_at", FormatTimestamp(at)},
              {"by", actor}},
         at, actor);
  } catch (const std::exception& e) {
    // The change itself is made; the notice is not worth failing the request for.
    spdlog::error("notice webhook.disabled about {} not queued: {}", webhook.id, e.what());
  }
}

}  // namespace mambo::delivery
