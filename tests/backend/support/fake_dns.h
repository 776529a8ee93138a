#pragma once
// A resolver that answers from a table, so the address guard and the sender are tested without
// DNS: names missing from the table fail as NXDOMAIN would.

#include <map>
#include <string>
#include <vector>

#include "delivery/address_guard.h"

namespace mambo::testing {

inline delivery::AddressGuard::Resolver FakeDns(
    std::map<std::string, std::vector<std::string>> table) {
  return [table = std::move(table)](const std::string& host, uint16_t) {
    delivery::ResolveResult r;
    auto it = table.find(host);
    if (it == table.end()) {
      r.error = "Name or service not known";
      return r;
    }
    for (const auto& a : it->second) r.addresses.push_back(*delivery::IpAddress::Parse(a));
    return r;
  };
}

}  // namespace mambo::testing
