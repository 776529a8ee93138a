// What store.h defines beside its interfaces: roles and the audit entry's JSON.
#include "store/store.h"

namespace mambo::store {

std::string_view ToString(Role role) {
  return role == Role::kAdmin ? "admin" : "ingest";
}

std::optional<Role> ParseRole(std::string_view text) {
  if (text == "admin") return Role::kAdmin;
  if (text == "ingest") return Role::kIngest;
  return std::nullopt;
}

void to_json(Json& j, const AuditEntry& a) {
  j = Json{{"id", a.id},         {"actor", a.actor},         {"at", FormatTimestamp(a.at)},
           {"action", a.action}, {"target_id", a.target_id}, {"before", a.before},
           {"after", a.after}};
}

}  // namespace mambo::store
