#include "mambo/catalog.h"

namespace mambo {
namespace {

constexpr std::string_view kTeam = "Team Management";
constexpr std::string_view kEnterprise = "Enterprise Management";
constexpr std::string_view kUsers = "User and Access Management";
constexpr std::string_view kPolicy = "Policy Management";
constexpr std::string_view kDevice = "Device Management";
constexpr std::string_view kApi = "API and Integration";

std::vector<EventType> BuildCatalog() {
  return {
      {"team.update", "Team Update",
       "Triggered when team settings, branding (logo, colors), or organizational configuration "
       "changes. Useful for synchronizing team information with external systems.",
       kTeam, "Team"},
      {"reseller.update", "Reseller Update",
       "Fired when reseller information, pricing, or partnership settings are modified. Important "
       "for reseller management portals.",
       kTeam, "Reseller"},
      {"enterprise.create", "Enterprise Create",
       "Notifies when a new enterprise customer is created in the system. Essential for CRM "
       "integration and customer onboarding workflows.",
       kEnterprise, "Enterprise"},
      {"enterprise.delete", "Enterprise Delete",
       "Triggered when an enterprise is removed from the system. Helps maintain accurate records "
       "in external systems.",
       kEnterprise, "Enterprise"},
      {"role.create", "Role Create",
       "Fired when a new role with specific permissions is created. Useful for permission "
       "synchronization.",
       kUsers, "Role"},
      {"role.update", "Role Update",
       "Triggered when role permissions, names, or settings are modified. Helps maintain "
       "consistent access controls.",
       kUsers, "Role"},
      {"role.delete", "Role Delete",
       "Notifies when a role is removed from the system. Important for cleanup operations.", kUsers,
       "Role"},
      {"membership.create", "Membership Create",
       "Triggered when a new user is added to the team. Perfect for user provisioning workflows.",
       kUsers, "Membership"},
      {"membership.update", "Membership Update",
       "Fired when user membership details, roles, or access levels change. Essential for access "
       "management.",
       kUsers, "Membership"},
      {"membership.delete", "Membership Delete",
       "Notifies when a user is removed from the team. Important for deprovisioning processes.",
       kUsers, "Membership"},
      {"policy.create", "Policy Create",
       "Triggered when a new device policy is created. Useful for policy compliance tracking.",
       kPolicy, "Policy"},
      {"policy.update", "Policy Update",
       "Fired when existing policy settings, rules, or configurations are modified. Helps "
       "maintain policy consistency.",
       kPolicy, "Policy"},
      {"policy.delete", "Policy Delete",
       "Notifies when a policy is removed. Important for compliance auditing.", kPolicy, "Policy"},
      {"policy_component.create", "Policy Component Create",
       "Triggered when a new policy component is added. Useful for component inventory "
       "management.",
       kPolicy, "Policy Component"},
      {"policy_component.update", "Policy Component Update",
       "Fired when policy component configurations, settings, or options change. Essential for "
       "configuration management.",
       kPolicy, "Policy Component"},
      {"policy_component.delete", "Policy Component Delete",
       "Notifies when a policy component is removed. Helps maintain accurate component records.",
       kPolicy, "Policy Component"},
      {"enrollment_token.create", "Enrollment Token Create",
       "Triggered when a new device enrollment token is generated. Perfect for device "
       "provisioning workflows.",
       kDevice, "Enrollment Token"},
      {"enrollment_token.update", "Enrollment Token Update",
       "Fired when enrollment token settings, expiration, or status change. Important for token "
       "lifecycle management.",
       kDevice, "Enrollment Token"},
      {"enrollment_token.delete", "Enrollment Token Delete",
       "Notifies when an enrollment token is revoked or deleted. Essential for security "
       "monitoring.",
       kDevice, "Enrollment Token"},
      {"device.enroll", "Device Enroll",
       "Triggered when a new device successfully enrolls in the system. Crucial for device "
       "inventory management.",
       kDevice, "Device"},
      {"device.update", "Device Update",
       "Fired when device information, compliance status, or configuration changes. Essential "
       "for real-time device monitoring.",
       kDevice, "Device"},
      {"device.delete", "Device Delete",
       "Notifies when a device is unenrolled or removed from management. Important for asset "
       "tracking.",
       kDevice, "Device"},
      {"access_token.create", "Access Token Create",
       "Triggered when a new API access token is generated. Important for security monitoring "
       "and token inventory.",
       kApi, "Access Token"},
      {"access_token.update", "Access Token Update",
       "Fired when access token permissions, scopes, or status change. Essential for access "
       "control auditing.",
       kApi, "Access Token"},
      {"access_token.delete", "Access Token Delete",
       "Notifies when an access token is revoked or deleted. Crucial for security incident "
       "response.",
       kApi, "Access Token"},
  };
}

std::vector<EventCategory> BuildCategories(const std::vector<EventType>& catalog) {
  std::vector<EventCategory> categories;
  for (const EventType& type : catalog) {
    if (categories.empty() || categories.back().name != type.category) {
      categories.push_back({type.category, {}});
    }
    auto& groups = categories.back().groups;
    if (groups.empty() || groups.back().name != type.group) groups.push_back({type.group, {}});
    groups.back().events.push_back(&type);
  }
  return categories;
}

}  // namespace

const std::vector<EventType>& EventCatalog() {
  static const std::vector<EventType> catalog = BuildCatalog();
  return catalog;
}

const EventType* FindEventType(std::string_view id) {
  for (const EventType& type : EventCatalog()) {
    if (type.id == id) return &type;
  }
  return nullptr;
}

const std::vector<EventType>& NoticeTypes() {
  static const std::vector<EventType> notices = {
      {kWebhookFailing, "Webhook Failing",
       "Sent when one of the team's webhooks has had only failures for half the auto-disable "
       "period: it will be disabled unless a delivery succeeds.",
       "Operational notices", "Webhook health"},
      {kWebhookDisabled, "Webhook Disabled",
       "Sent when one of the team's webhooks is disabled: automatically after failing, because "
       "its endpoint answered 410 Gone, or by a person; with the reason.",
       "Operational notices", "Webhook health"},
      {kWebhookRecovered, "Webhook Recovered",
       "Sent at the first successful delivery of a webhook that was failing or disabled.",
       "Operational notices", "Webhook health"},
  };
  return notices;
}

const EventType* FindSubscribableType(std::string_view id) {
  if (const EventType* type = FindEventType(id)) return type;
  for (const EventType& type : NoticeTypes()) {
    if (type.id == id) return &type;
  }
  return nullptr;
}

const std::vector<EventCategory>& EventCategories() {
  static const std::vector<EventCategory> categories = BuildCategories(EventCatalog());
  return categories;
}

const std::vector<EventCategory>& SubscribableCategories() {
  static const std::vector<EventCategory> categories = [] {
    std::vector<EventCategory> all = EventCategories();
    for (EventCategory& c : BuildCategories(NoticeTypes())) all.push_back(std::move(c));
    return all;
  }();
  return categories;
}

size_t SubscribableCount() {
  return EventCatalog().size() + NoticeTypes().size();
}

}  // namespace mambo
