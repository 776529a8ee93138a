#pragma once
// The 25 webhook event types of the product document, in its 6 categories and 10 groups, in
// document order. The catalog is static data: lookups never allocate.

#include <cstddef>
#include <string_view>
#include <vector>

namespace mambo {

struct EventType {
  std::string_view id;        // "device.enroll"
  std::string_view name;      // "Device Enroll"
  std::string_view purpose;   // the product document's sentence(s) for this event
  std::string_view category;  // "Device Management"
  std::string_view group;     // "Device"
};

// Every event type in document order.
const std::vector<EventType>& EventCatalog();

// nullptr when `id` is not in the catalog.
const EventType* FindEventType(std::string_view id);

// The catalog's structure, in document order, for pickers that group by category and group.
struct EventGroup {
  std::string_view name;
  std::vector<const EventType*> events;
};
struct EventCategory {
  std::string_view name;
  std::vector<EventGroup> groups;
};
const std::vector<EventCategory>& EventCategories();

// The event type webhookd sends for "send test event"; not subscribable and not in the catalog.
inline constexpr std::string_view kTestEventType = "webhook.test";

// Operational notices: events webhookd itself sends about the team's webhooks (one failing for
// a while, disabled, recovered), apart from the 25 of the product catalog. Any webhook may
// subscribe to them; none is sent to the webhook it is about, and no producer may post one.
inline constexpr std::string_view kWebhookFailing = "webhook.failing";
inline constexpr std::string_view kWebhookDisabled = "webhook.disabled";
inline constexpr std::string_view kWebhookRecovered = "webhook.recovered";
const std::vector<EventType>& NoticeTypes();
// A type a webhook may subscribe to: the catalog's or a notice's (nullptr otherwise).
const EventType* FindSubscribableType(std::string_view id);
// What a webhook may subscribe to, for pickers: the catalog's categories, then the notices'.
const std::vector<EventCategory>& SubscribableCategories();
size_t SubscribableCount();

}  // namespace mambo
