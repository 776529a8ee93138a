#include "delivery/address_guard.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

#include "util/text.h"

namespace mambo::delivery {
namespace {

enum class Embed { kNone, kMapped, kCompatible, kNat64, kSixToFour };

struct Rule {
  std::string_view cidr;
  AddressClass kind;  // ignored when embed != kNone: the embedded IPv4 address decides
  Embed embed = Embed::kNone;
};

// First match wins, so the globally reachable exceptions precede the blocks that contain them.
// Sources: iana.org/assignments/iana-ipv4-special-registry and iana-ipv6-special-registry.
constexpr Rule kV4Rules[] = {
    {"0.0.0.0/32", AddressClass::kUnspecified},
    {"0.0.0.0/8", AddressClass::kThisNetwork},
    {"10.0.0.0/8", AddressClass::kPrivate},
    {"100.64.0.0/10", AddressClass::kSharedCgnat},
    {"127.0.0.0/8", AddressClass::kLoopback},
    {"169.254.0.0/16", AddressClass::kLinkLocal},
    {"172.16.0.0/12", AddressClass::kPrivate},
    {"192.0.0.9/32", AddressClass::kGlobal},    // Port Control Protocol anycast
    {"192.0.0.10/32", AddressClass::kGlobal},   // TURN anycast
    {"192.0.0.0/24", AddressClass::kReserved},  // IETF protocol assignments (incl. DS-Lite)
    {"192.0.2.0/24", AddressClass::kDocumentation},
    {"192.88.99.0/24", AddressClass::kReserved},  // deprecated 6to4 relay anycast
    {"192.168.0.0/16", AddressClass::kPrivate},
    {"198.18.0.0/15", AddressClass::kBenchmarking},
    {"198.51.100.0/24", AddressClass::kDocumentation},
    {"203.0.113.0/24", AddressClass::kDocumentation},
    {"224.0.0.0/4", AddressClass::kMulticast},
    {"255.255.255.255/32", AddressClass::kBroadcast},
    {"240.0.0.0/4", AddressClass::kReserved},  // "future use", never routed
};

constexpr Rule kV6Rules[] = {
    {"::/128", AddressClass::kUnspecified},
    {"::1/128", AddressClass::kLoopback},
    {"::ffff:0:0/96", AddressClass::kReserved, Embed::kMapped},
    {"::/96", AddressClass::kReserved, Embed::kCompatible},  // deprecated IPv4-compatible
    {"64:ff9b::/96", AddressClass::kReserved, Embed::kNat64},
    {"64:ff9b:1::/48", AddressClass::kReserved},  // local-use NAT64
    {"100::/64", AddressClass::kReserved},        // discard-only
    {"100:0:0:1::/64", AddressClass::kReserved},  // dummy IPv6 prefix
    {"2001:1::1/128", AddressClass::kGlobal},     // PCP anycast
    {"2001:1::2/128", AddressClass::kGlobal},     // TURN anycast
    {"2001:1::3/128", AddressClass::kGlobal},     // DNS-SD SRP anycast
    {"2001:3::/32", AddressClass::kGlobal},       // AMT
    {"2001:4:112::/48", AddressClass::kGlobal},   // AS112-v6
    {"2001:20::/28", AddressClass::kGlobal},      // ORCHIDv2
    {"2001:30::/28", AddressClass::kGlobal},      // DRIPv1 DETs
    {"2001::/32", AddressClass::kTeredo},
    {"2001:2::/48", AddressClass::kBenchmarking},
    {"2001:db8::/32", AddressClass::kDocumentation},
    {"2001::/23", AddressClass::kReserved},  // IETF protocol assignments (incl. ORCHID v1)
    {"2002::/16", AddressClass::kReserved, Embed::kSixToFour},
    {"3fff::/20", AddressClass::kDocumentation},
    {"5f00::/16", AddressClass::kReserved},  // SRv6 SIDs
    {"2000::/3", AddressClass::kGlobal},     // global unicast
    {"fc00::/7", AddressClass::kUniqueLocal},
    {"fe80::/10", AddressClass::kLinkLocal},
    {"fec0::/10", AddressClass::kReserved},  // deprecated site-local
    {"ff00::/8", AddressClass::kMulticast},
    {"::/0", AddressClass::kReserved},  // not allocated for unicast by IANA
};

// Parses "addr/prefix" (or a bare address); the message names the entry so an operator can find
// the typo in a long list.
std::optional<Cidr> ParseCidr(std::string_view text, std::string& error) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  const size_t slash = text.find('/');
  const std::string_view addr_text = text.substr(0, slash);
  auto address = IpAddress::Parse(addr_text);
  if (!address) {
    error = quoted + " is not an IP address or CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)";
    return std::nullopt;
  }
  const int max_prefix = address->family == AF_INET ? 32 : 128;
  int prefix = max_prefix;
  if (slash != std::string_view::npos) {
    const std::string_view prefix_text = text.substr(slash + 1);
    if (prefix_text.empty() || prefix_text.size() > 3 ||
        !std::all_of(prefix_text.begin(), prefix_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      error = quoted + ": prefix length must be a number from 0 to " + std::to_string(max_prefix);
      return std::nullopt;
    }
    prefix = std::stoi(std::string(prefix_text));
    if (prefix > max_prefix) {
      error = quoted + ": prefix length must be a number from 0 to " + std::to_string(max_prefix);
      return std::nullopt;
    }
  }
  Cidr cidr{*address, prefix};
  Cidr masked = cidr;
  for (int bit = prefix; bit < max_prefix; ++bit) {
    masked.network.bytes[static_cast<size_t>(bit / 8)] &=
        static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  if (masked.network != cidr.network) {
    error = quoted + ": address has bits set beyond the /" + std::to_string(prefix) +
            " prefix (did you mean " + masked.ToString() + "?)";
    return std::nullopt;
  }
  return cidr;
}

const std::vector<std::pair<Cidr, Rule>>& CompiledRules(int family) {
  auto compile = [](const auto& rules) {
    std::vector<std::pair<Cidr, Rule>> out;
    for (const Rule& rule : rules) {
      std::string error;
      auto cidr = ParseCidr(rule.cidr, error);
      if (!cidr)
        throw std::logic_error("bad built-in range " + std::string(rule.cidr) + ": " + error);
      out.emplace_back(*cidr, rule);
    }
    return out;
  };
  static const auto v4 = compile(kV4Rules);
  static const auto v6 = compile(kV6Rules);
  return family == AF_INET ? v4 : v6;
}

IpAddress EmbeddedV4(const IpAddress& v6, Embed embed) {
  const size_t offset = embed == Embed::kSixToFour ? 2 : 12;
  const auto& b = v6.bytes;
  return IpAddress::V4(b[offset], b[offset + 1], b[offset + 2], b[offset + 3]);
}

std::string_view EmbedName(Embed embed) {
  switch (embed) {
    case Embed::kMapped:
      return "IPv4-mapped";
    case Embed::kCompatible:
      return "IPv4-compatible";
    case Embed::kNat64:
      return "NAT64";
    case Embed::kSixToFour:
      return "6to4";
    case Embed::kNone:
      break;
  }
  return "";
}

}  // namespace

IpAddress IpAddress::V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.family = AF_INET;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  IpAddress ip;
  const std::string s(text);
  if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET;
    return ip;
  }
  std::string v6 = s;
  if (v6.size() >= 2 && v6.front() == '[' && v6.back() == ']') v6 = v6.substr(1, v6.size() - 2);
  if (inet_pton(AF_INET6, v6.c_str(), ip.bytes.data()) == 1) {
    ip.family = AF_INET6;
    return ip;
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::FromSockaddr(const sockaddr* addr) {
  if (addr == nullptr) return std::nullopt;
  IpAddress ip;
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    ip.family = AF_INET;
    std::memcpy(ip.bytes.data(), &in->sin_addr, 4);
    return ip;
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    ip.family = AF_INET6;
    std::memcpy(ip.bytes.data(), &in6->sin6_addr, 16);
    return ip;
  }
  return std::nullopt;
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::string_view ToString(AddressClass c) {
  switch (c) {
    case AddressClass::kGlobal:
      return "global";
    case AddressClass::kUnspecified:
      return "unspecified";
    case AddressClass::kThisNetwork:
      return "\"this network\"";
    case AddressClass::kLoopback:
      return "loopback";
    case AddressClass::kPrivate:
      return "private";
    case AddressClass::kSharedCgnat:
      return "shared address space (CGNAT)";
    case AddressClass::kLinkLocal:
      return "link-local";
    case AddressClass::kUniqueLocal:
      return "unique-local";
    case AddressClass::kMulticast:
      return "multicast";
    case AddressClass::kBroadcast:
      return "broadcast";
    case AddressClass::kDocumentation:
      return "documentation";
    case AddressClass::kBenchmarking:
      return "benchmarking";
    case AddressClass::kTeredo:
      return "Teredo";
    case AddressClass::kReserved:
      return "reserved";
  }
  return "reserved";
}

Classification Classify(const IpAddress& address) {
  for (const auto& [cidr, rule] : CompiledRules(address.family)) {
    if (!cidr.Contains(address)) continue;
    if (rule.embed != Embed::kNone) {
      Classification inner = Classify(EmbeddedV4(address, rule.embed));
      inner.embedded = EmbedName(rule.embed);
      return inner;
    }
    if (rule.kind == AddressClass::kGlobal) return {};
    return {rule.kind, rule.cidr, ""};
  }
  return {};  // IPv4 outside every special block
}

Classification Classify(const sockaddr* address) {
  auto ip = IpAddress::FromSockaddr(address);
  if (!ip) return {AddressClass::kReserved, "non-IP address family", ""};
  return Classify(*ip);
}

std::string Describe(const IpAddress& address, const Classification& c) {
  std::string text = address.ToString() + " is " + std::string(ToString(c.kind));
  if (!c.range.empty()) {
    text += " (" + std::string(c.range);
    if (!c.embedded.empty()) text += " via " + std::string(c.embedded);
    text += ")";
  }
  return text;
}

std::string RefusalText(std::string_view name, const std::vector<AddressClass>& kinds) {
  // The tenant sees the category only: the address an internal name resolves to is the
  // operator's to know (it maps the network behind webhookd), and the log has it.
  std::string what;
  for (size_t i = 0; i < kinds.size(); ++i) {
    if (i > 0) what += i + 1 == kinds.size() ? " and " : ", ";
    what += ToString(kinds[i]);
  }
  const bool literal = IpAddress::Parse(std::string(name)).has_value();
  return "refused to connect: " + std::string(name) + (literal ? " is a " : " resolves to a ") +
         what + (kinds.size() > 1 ? " addresses" : " address") +
         "; webhooks may only reach globally routable addresses unless an operator "
         "allow-lists the range";
}

bool Cidr::Contains(const IpAddress& address) const {
  if (address.family != network.family) return false;
  const int full = prefix / 8;
  for (int i = 0; i < full; ++i) {
    if (address.bytes[static_cast<size_t>(i)] != network.bytes[static_cast<size_t>(i)]) {
      return false;
    }
  }
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address.bytes[static_cast<size_t>(full)] & mask) ==
         (network.bytes[static_cast<size_t>(full)] & mask);
}

std::string Cidr::ToString() const {
  return network.ToString() + "/" + std::to_string(prefix);
}

CidrList ParseCidrList(std::string_view text) {
  CidrList list;
  if (Trim(text).empty()) return list;
  size_t start = 0;
  int index = 1;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string_view entry =
        Trim(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (entry.empty()) {
      return {{},
              "allow-list entry " + std::to_string(index) +
                  " is empty (write CIDRs separated by single commas)"};
    }
    std::string error;
    auto cidr = ParseCidr(entry, error);
    if (!cidr) return {{}, "allow-list entry " + std::to_string(index) + ": " + error};
    list.cidrs.push_back(*cidr);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
    ++index;
  }
  return list;
}

ResolveResult Resolve(const std::string& host, uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  // No AI_ADDRCONFIG: the guard must see every answer, including AAAA records on an IPv4-only
  // host, because "refuse if any address is non-global" is about the name, not this machine.
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &result);
  ResolveResult out;
  if (rc != 0) {
    out.error = rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc);
    return out;
  }
  for (const addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    auto ip = IpAddress::FromSockaddr(ai->ai_addr);
    if (ip && std::find(out.addresses.begin(), out.addresses.end(), *ip) == out.addresses.end()) {
      out.addresses.push_back(*ip);
    }
  }
  freeaddrinfo(result);
  if (out.addresses.empty()) out.error = "no IPv4 or IPv6 addresses";
  return out;
}

CachingResolverFns CachingResolver(ResolverFn inner, const Clock& clock, int64_t ttl_ms,
                                   size_t max_entries) {
  struct Entry {
    ResolveResult result;
    int64_t expires_at = 0;
  };
  struct Cache {
    std::mutex mu;
    std::unordered_map<std::string, Entry> entries;  // "host|port"
  };
  auto cache = std::make_shared<Cache>();
  auto key_of = [](const std::string& host, uint16_t port) {
    return host + "|" + std::to_string(port);
  };
  auto cached = [&clock, cache, key_of](const std::string& host,
                                        uint16_t port) -> std::optional<ResolveResult> {
    const std::string key = key_of(host, port);
    std::lock_guard lock(cache->mu);
    auto it = cache->entries.find(key);
    if (it != cache->entries.end() && it->second.expires_at > clock.NowMs())
      return it->second.result;
    return std::nullopt;
  };
  auto resolve = [inner = std::move(inner), &clock, ttl_ms, max_entries, cache, cached, key_of](
                     const std::string& host, uint16_t port) {
    if (auto hit = cached(host, port)) return *hit;
    const int64_t now = clock.NowMs();
    ResolveResult fresh = inner(host, port);  // not under the lock: lookups can take seconds
    if (fresh.error.empty()) {
      std::lock_guard lock(cache->mu);
      if (cache->entries.size() >= max_entries) cache->entries.clear();
      cache->entries[key_of(host, port)] = Entry{fresh, now + ttl_ms};
    }
    return fresh;
  };
  return {std::move(resolve), std::move(cached)};
}

AddressGuard::AddressGuard(std::vector<Cidr> allow, Resolver resolver, PeekFn cached)
    : allow_(std::move(allow)), resolver_(std::move(resolver)), cached_(std::move(cached)) {}

bool AddressGuard::Allowed(const IpAddress& address) const {
  if (Classify(address).global()) return true;
  // The kernel shows IPv4 peers on dual-stack sockets as ::ffff:a.b.c.d: the same host.
  std::optional<IpAddress> v4;
  static const Cidr kMapped = [] {
    Cidr c{*IpAddress::Parse("::ffff:0:0"), 96};
    return c;
  }();
  if (kMapped.Contains(address)) {
    v4 = IpAddress::V4(address.bytes[12], address.bytes[13], address.bytes[14], address.bytes[15]);
  }
  for (const Cidr& cidr : allow_) {
    if (cidr.Contains(address) || (v4 && cidr.Contains(*v4))) return true;
  }
  return false;
}

namespace {
std::string Unbracketed(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}
}  // namespace

CheckResult AddressGuard::Check(std::string_view host, uint16_t port) const {
  const std::string name = Unbracketed(host);
  if (name.empty()) return Verdict(name, {});
  return Verdict(name, resolver_(name, port));
}

std::optional<CheckResult> AddressGuard::CheckNow(std::string_view host, uint16_t port) const {
  const std::string name = Unbracketed(host);
  if (name.empty()) return Verdict(name, {});
  if (auto literal = IpAddress::Parse(name)) return Verdict(name, ResolveResult{{*literal}, {}});
  if (cached_) {
    if (auto hit = cached_(name, port)) return Verdict(name, std::move(*hit));
  }
  return std::nullopt;
}

CheckResult AddressGuard::Verdict(const std::string& name, ResolveResult resolved) const {
  CheckResult out;
  if (name.empty()) {
    out.cause = FailureCause::kDns;
    out.error = "URL has no host to resolve";
    return out;
  }
  if (!resolved.error.empty() || resolved.addresses.empty()) {
    out.cause = FailureCause::kDns;
    out.error = "DNS lookup of " + name +
                " failed: " + (resolved.error.empty() ? "no addresses" : resolved.error);
    return out;
  }
  std::string blocked;  // for the operator's log: each address and the range it fell in
  std::vector<AddressClass> kinds;
  for (const IpAddress& ip : resolved.addresses) {
    if (Allowed(ip)) continue;
    if (!blocked.empty()) blocked += "; ";
    const Classification c = Classify(ip);
    blocked += Describe(ip, c);
    if (std::find(kinds.begin(), kinds.end(), c.kind) == kinds.end()) kinds.push_back(c.kind);
  }
  if (!blocked.empty()) {
    out.cause = FailureCause::kBlockedAddress;
    out.error = RefusalText(name, kinds);
    spdlog::debug("address guard: {} refused: {}", name, blocked);
    return out;
  }
  out.addresses = std::move(resolved.addresses);
  return out;
}

}  // namespace mambo::delivery
