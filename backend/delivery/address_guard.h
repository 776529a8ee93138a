#pragma once
// The SSRF guard: webhook URLs are typed by customers, so webhookd must never be talked into
// POSTing to its own network (cloud metadata at 169.254.169.254, the database on 10.x, localhost
// admin ports). Policy is decided on the addresses the resolver returns, never on URL text
// (numeric hosts like "2130706433" or "0x7f000001" resolve to 127.0.0.1), and the sender connects
// to exactly the addresses that were checked, so a second DNS answer (rebinding) cannot swap in a
// private address between check and connect.

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "delivery/clock.h"
#include "mambo/models.h"

namespace mambo::delivery {

// An IPv4 or IPv6 address as bytes (network order). IPv4 uses the first 4 bytes.
struct IpAddress {
  int family = AF_INET;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};

  static IpAddress V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  // Strict numeric forms only ("10.0.0.1", "::1", "[::1]"); no host names, no "127.1".
  static std::optional<IpAddress> Parse(std::string_view text);
  // nullopt for families other than AF_INET / AF_INET6.
  static std::optional<IpAddress> FromSockaddr(const sockaddr* addr);

  size_t size() const { return family == AF_INET ? 4 : 16; }
  std::string ToString() const;  // inet_ntop form
  bool operator==(const IpAddress& o) const { return family == o.family && bytes == o.bytes; }
  bool operator!=(const IpAddress& o) const { return !(*this == o); }
};

// Why an address is not globally reachable. The ranges are the IANA IPv4 and IPv6
// Special-Purpose Address Registries (entries marked "Globally Reachable: False"), plus
// multicast, broadcast and IPv6 space outside 2000::/3 that IANA has not allocated for unicast.
enum class AddressClass {
  kGlobal,
  kUnspecified,    // 0.0.0.0, ::
  kThisNetwork,    // 0.0.0.0/8
  kLoopback,       // 127.0.0.0/8, ::1
  kPrivate,        // 10/8, 172.16/12, 192.168/16
  kSharedCgnat,    // 100.64.0.0/10
  kLinkLocal,      // 169.254.0.0/16 (cloud metadata), fe80::/10
  kUniqueLocal,    // fc00::/7
  kMulticast,      // 224.0.0.0/4, ff00::/8
  kBroadcast,      // 255.255.255.255
  kDocumentation,  // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  kBenchmarking,   // 198.18.0.0/15, 2001:2::/48
  kTeredo,         // 2001::/32: the embedded server/client addresses cannot be trusted
  kReserved,       // everything else special-purpose or unallocated
};

std::string_view ToString(AddressClass c);  // "loopback", "private", ...
// What a tenant is told when `name` (a host or an address literal) is refused: the categories
// of the refused addresses, never the addresses themselves.
std::string RefusalText(std::string_view name, const std::vector<AddressClass>& kinds);

struct Classification {
  AddressClass kind = AddressClass::kGlobal;
  std::string_view range;     // the registry entry that matched, "127.0.0.0/8"; empty if global
  std::string_view embedded;  // "IPv4-mapped", "NAT64", "6to4", "IPv4-compatible" or empty
  bool global() const { return kind == AddressClass::kGlobal; }
};

// IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4
// 2002::/16) are classified by the IPv4 address inside: ::ffff:127.0.0.1 reaches loopback.
Classification Classify(const IpAddress& address);
Classification Classify(const sockaddr* address);  // kReserved for non-IP families

// "127.0.0.1 is loopback (127.0.0.0/8)"
std::string Describe(const IpAddress& address, const Classification& c);

struct Cidr {
  IpAddress network;
  int prefix = 0;
  bool Contains(const IpAddress& address) const;
  std::string ToString() const;
};

struct CidrList {
  std::vector<Cidr> cidrs;
  std::optional<std::string> error;  // set when the text is invalid; cidrs is then empty
};

// Comma-separated CIDRs, spaces allowed: "127.0.0.1/32, 10.0.0.0/8, fd00::/8". A bare address
// means the single host. Host bits after the prefix are an error (a typo like "10.0.0.1/8" is
// more likely than an intent), as are an empty entry and a prefix longer than the family allows.
CidrList ParseCidrList(std::string_view text);

struct ResolveResult {
  std::vector<IpAddress> addresses;  // resolver order, duplicates removed
  std::string error;                 // non-empty when resolution failed
};

// getaddrinfo(host, port) for TCP: every address, IPv4 and IPv6.
ResolveResult Resolve(const std::string& host, uint16_t port);

// `inner` with successful answers kept for `ttl_ms` by `clock` (failures are not kept: the
// delivery is retried on its schedule and should see DNS recover). Without it every delivery is
// a DNS query, thousands a second under load. The guard still checks every cached answer, so a
// name that starts answering with a private address is refused once its entry expires: the
// TTL bounds how long a rebinding can lag, it never lets one through. Thread-safe; at most
// `max_entries` names (all dropped when full: simple, and refilled at one query per name).
using ResolverFn = std::function<ResolveResult(const std::string& host, uint16_t port)>;
// The answer a resolver already has, without asking anyone; nullopt when it would have to.
using PeekFn = std::function<std::optional<ResolveResult>(const std::string& host, uint16_t port)>;
struct CachingResolverFns {
  ResolverFn resolve;  // cached answer, or a lookup (blocking) that fills the cache
  PeekFn cached;       // cached answer only: never blocks
};
CachingResolverFns CachingResolver(ResolverFn inner, const Clock& clock, int64_t ttl_ms,
                                   size_t max_entries = 10000);

struct CheckResult {
  FailureCause cause = FailureCause::kNone;  // kNone, kDns or kBlockedAddress
  std::string error;                         // readable reason when not kNone
  std::vector<IpAddress> addresses;          // when kNone: connect to these, and only these
  bool ok() const { return cause == FailureCause::kNone; }
};

class AddressGuard {
 public:
  using Resolver = ResolverFn;

  // `allow` overrides the classifier for operators who deliver to private ranges on purpose.
  // `resolver` is injectable so tests can map names to addresses without touching DNS.
  // `cached` (optional) lets CheckNow answer for names the resolver's cache knows.
  explicit AddressGuard(std::vector<Cidr> allow = {}, Resolver resolver = Resolve,
                        PeekFn cached = nullptr);

  // Global, or inside the allow-list (an IPv4-mapped address also matches by its IPv4 form).
  bool Allowed(const IpAddress& address) const;

  // Resolves `host` (a name, or an IP literal, with or without [brackets]) and refuses it if ANY
  // address is neither global nor allowed: a name with one public and one private answer is a
  // rebinding setup, not a partial success.
  CheckResult Check(std::string_view host, uint16_t port = 443) const;

  // Check's verdict when it needs no DNS query (IP literals, names in the resolver's cache);
  // nullopt otherwise. For an event loop, which must not block on a lookup: it asks Check on
  // another thread only then.
  std::optional<CheckResult> CheckNow(std::string_view host, uint16_t port = 443) const;

 private:
  CheckResult Verdict(const std::string& name, ResolveResult resolved) const;

  std::vector<Cidr> allow_;
  Resolver resolver_;
  PeekFn cached_;
};

}  // namespace mambo::delivery
