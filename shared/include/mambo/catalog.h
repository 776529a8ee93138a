#pragma once
// The 25 webhook event types of the product document, in its 6 categories and 10 groups, in
// document order. The catalog is static data: lookups never allocate.

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

}  // namespace mambo
