// What store.h defines beside its interfaces: roles and the audit entry's JSON.
#include "store/store.h"

namespace mambo::store {

std::string_view ToString(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kViewer:
      return "viewer";
    case Role::kIngest:
      return "ingest";
  }
  return "ingest";
}

std::optional<Role> ParseRole(std::string_view text) {
  for (const Role r : {Role::kAdmin, Role::kViewer, Role::kIngest}) {
    if (text == ToString(r)) return r;
  }
  return std::nullopt;
}

void to_json(Json& j, const AuditEntry& a) {
  j = Json{{"id", a.id},         {"actor", a.actor},         {"at", FormatTimestamp(a.at)},
           {"action", a.action}, {"target_id", a.target_id}, {"before", a.before},
           {"after", a.after}};
}

}  // namespace mambo::store
