#include "delivery/address_guard.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <map>

#include "support/fake_dns.h"

namespace mambo::delivery {
namespace {

using C = AddressClass;

struct Case {
  const char* address;
  AddressClass expected;
  const char* embedded = "";
};

// One row per registry entry or edge of one, both families, including the forms an attacker
// would use to smuggle an internal IPv4 address through IPv6.
const Case kCases[] = {
    // IPv4 globally reachable
    {"8.8.8.8", C::kGlobal},
    {"1.1.1.1", C::kGlobal},
    {"93.184.216.34", C::kGlobal},
    {"9.255.255.255", C::kGlobal},
    {"11.0.0.0", C::kGlobal},
    {"100.63.255.255", C::kGlobal},
    {"100.128.0.0", C::kGlobal},
    {"172.15.255.255", C::kGlobal},
    {"172.32.0.0", C::kGlobal},
    {"192.0.0.9", C::kGlobal},   // PCP anycast: the registry's global exception
    {"192.0.0.10", C::kGlobal},  // TURN anycast
    {"192.31.196.1", C::kGlobal},
    {"192.52.193.1", C::kGlobal},
    {"192.175.48.1", C::kGlobal},
    {"198.17.255.255", C::kGlobal},
    {"198.20.0.0", C::kGlobal},
    {"223.255.255.255", C::kGlobal},
    // IPv4 special-purpose
    {"0.0.0.0", C::kUnspecified},
    {"0.1.2.3", C::kThisNetwork},
    {"0.255.255.255", C::kThisNetwork},
    {"10.0.0.1", C::kPrivate},
    {"10.255.255.255", C::kPrivate},
    {"100.64.0.1", C::kSharedCgnat},
    {"100.127.255.255", C::kSharedCgnat},
    {"127.0.0.1", C::kLoopback},
    {"127.255.255.254", C::kLoopback},
    {"169.254.169.254", C::kLinkLocal},  // cloud metadata
    {"169.254.0.1", C::kLinkLocal},
    {"172.16.0.1", C::kPrivate},
    {"172.31.255.255", C::kPrivate},
    {"192.0.0.1", C::kReserved},
    {"192.0.0.170", C::kReserved},
    {"192.0.2.1", C::kDocumentation},
    {"192.88.99.1", C::kReserved},
    {"192.168.1.1", C::kPrivate},
    {"198.18.0.1", C::kBenchmarking},
    {"198.19.255.255", C::kBenchmarking},
    {"198.51.100.7", C::kDocumentation},
    {"203.0.113.9", C::kDocumentation},
    {"224.0.0.1", C::kMulticast},
    {"239.255.255.250", C::kMulticast},
    {"240.0.0.1", C::kReserved},
    {"254.255.255.255", C::kReserved},
    {"255.255.255.255", C::kBroadcast},
    // IPv6 globally reachable
    {"2606:4700:4700::1111", C::kGlobal},
    {"2001:4860:4860::8888", C::kGlobal},
    {"2a00:1450:4001:80b::200e", C::kGlobal},
    {"2001:1::1", C::kGlobal},
    {"2001:3::1", C::kGlobal},
    {"2001:4:112::1", C::kGlobal},
    {"2001:20::1", C::kGlobal},
    {"2620:4f:8000::1", C::kGlobal},
    {"3fff:1000::1", C::kGlobal},  // just past 3fff::/20
    // IPv6 special-purpose
    {"::", C::kUnspecified},
    {"::1", C::kLoopback},
    {"fe80::1", C::kLinkLocal},
    {"febf:ffff::1", C::kLinkLocal},
    {"fc00::1", C::kUniqueLocal},
    {"fd12:3456:789a::1", C::kUniqueLocal},
    {"ff02::1", C::kMulticast},
    {"ff05::1:3", C::kMulticast},
    {"2001:db8::1", C::kDocumentation},
    {"3fff::1", C::kDocumentation},
    {"2001:2::1", C::kBenchmarking},
    {"2001::1", C::kTeredo},
    {"2001:0:4136:e378:8000:63bf:3fff:fdd2", C::kTeredo},
    {"2001:10::1", C::kReserved},  // deprecated ORCHID
    {"2001:100::1", C::kReserved},
    {"100::1", C::kReserved},
    {"100:0:0:1::1", C::kReserved},
    {"64:ff9b:1::1", C::kReserved},
    {"5f00::1", C::kReserved},
    {"fec0::1", C::kReserved},
    {"4000::1", C::kReserved},
    {"1::1", C::kReserved},
    // IPv4 inside IPv6: classified by the embedded address
    {"::ffff:127.0.0.1", C::kLoopback, "IPv4-mapped"},
    {"::ffff:10.1.2.3", C::kPrivate, "IPv4-mapped"},
    {"::ffff:169.254.169.254", C::kLinkLocal, "IPv4-mapped"},
    {"::ffff:8.8.8.8", C::kGlobal, "IPv4-mapped"},
    {"::127.0.0.1", C::kLoopback, "IPv4-compatible"},
    {"::10.0.0.1", C::kPrivate, "IPv4-compatible"},
    {"::8.8.8.8", C::kGlobal, "IPv4-compatible"},
    {"64:ff9b::127.0.0.1", C::kLoopback, "NAT64"},
    {"64:ff9b::192.168.0.1", C::kPrivate, "NAT64"},
    {"64:ff9b::8.8.8.8", C::kGlobal, "NAT64"},
    {"2002:7f00:1::", C::kLoopback, "6to4"},
    {"2002:a9fe:a9fe::1", C::kLinkLocal, "6to4"},
    {"2002:0a00:0001::", C::kPrivate, "6to4"},
    {"2002:0808:0808::1", C::kGlobal, "6to4"},
};

TEST(AddressGuardClassifyTest, TableOfSpecialAndGlobalAddresses) {
  static_assert(sizeof(kCases) / sizeof(kCases[0]) >= 50, "at least 50 addresses");
  for (const Case& c : kCases) {
    auto ip = IpAddress::Parse(c.address);
    ASSERT_TRUE(ip.has_value()) << c.address;
    const Classification got = Classify(*ip);
    EXPECT_EQ(got.kind, c.expected) << c.address << " got " << ToString(got.kind);
    EXPECT_EQ(got.embedded, c.embedded) << c.address;
    EXPECT_EQ(got.global(), c.expected == C::kGlobal) << c.address;
  }
}

TEST(AddressGuardClassifyTest, SockaddrOverloadAgreesWithBytes) {
  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "169.254.169.254", &v4.sin_addr);
  EXPECT_EQ(Classify(reinterpret_cast<sockaddr*>(&v4)).kind, C::kLinkLocal);
  sockaddr_in6 v6{};
  v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:127.0.0.1", &v6.sin6_addr);
  EXPECT_EQ(Classify(reinterpret_cast<sockaddr*>(&v6)).kind, C::kLoopback);
  sockaddr unix_addr{};
  unix_addr.sa_family = AF_UNIX;
  EXPECT_EQ(Classify(&unix_addr).kind, C::kReserved);
}

TEST(AddressGuardClassifyTest, DescribeNamesTheRange) {
  auto ip = *IpAddress::Parse("169.254.169.254");
  EXPECT_EQ(Describe(ip, Classify(ip)), "169.254.169.254 is link-local (169.254.0.0/16)");
  auto mapped = *IpAddress::Parse("::ffff:127.0.0.1");
  EXPECT_EQ(Describe(mapped, Classify(mapped)),
            "::ffff:127.0.0.1 is loopback (127.0.0.0/8 via IPv4-mapped)");
}

TEST(AddressGuardParseTest, IpAddressParseIsStrict) {
  EXPECT_TRUE(IpAddress::Parse("[::1]").has_value());
  EXPECT_FALSE(IpAddress::Parse("127.1").has_value());
  EXPECT_FALSE(IpAddress::Parse("2130706433").has_value());
  EXPECT_FALSE(IpAddress::Parse("example.com").has_value());
  EXPECT_FALSE(IpAddress::Parse("").has_value());
  EXPECT_EQ(IpAddress::Parse("0:0:0:0:0:0:0:1")->ToString(), "::1");
}

TEST(AddressGuardCidrTest, ParsesListsWithSpacesAndBareAddresses) {
  auto list = ParseCidrList("127.0.0.1/32,10.0.0.0/8, fd00::/8 ,192.168.1.5");
  ASSERT_FALSE(list.error) << *list.error;
  ASSERT_EQ(list.cidrs.size(), 4u);
  EXPECT_EQ(list.cidrs[0].ToString(), "127.0.0.1/32");
  EXPECT_EQ(list.cidrs[1].ToString(), "10.0.0.0/8");
  EXPECT_EQ(list.cidrs[2].ToString(), "fd00::/8");
  EXPECT_EQ(list.cidrs[3].ToString(), "192.168.1.5/32");
  EXPECT_TRUE(list.cidrs[1].Contains(*IpAddress::Parse("10.200.0.1")));
  EXPECT_FALSE(list.cidrs[1].Contains(*IpAddress::Parse("11.0.0.1")));
  EXPECT_FALSE(list.cidrs[1].Contains(*IpAddress::Parse("::ffff:10.0.0.1")));  // family differs
  EXPECT_TRUE(ParseCidrList("").cidrs.empty());
  EXPECT_FALSE(ParseCidrList("  ").error);
  EXPECT_TRUE(ParseCidrList("0.0.0.0/0").cidrs[0].Contains(*IpAddress::Parse("1.2.3.4")));
  EXPECT_TRUE(ParseCidrList("100.64.0.0/10").cidrs[0].Contains(*IpAddress::Parse("100.127.0.1")));
}

TEST(AddressGuardCidrTest, ErrorsSayWhatIsWrongAndWhere) {
  const std::map<std::string, std::string> cases = {
      {"10.0.0.0/33",
       "allow-list entry 1: \"10.0.0.0/33\": prefix length must be a number from 0 "
       "to 32"},
      {"10.0.0.0/8,fd00::/129",
       "allow-list entry 2: \"fd00::/129\": prefix length must be a number from 0 to 128"},
      {"10.0.0.1/8",
       "allow-list entry 1: \"10.0.0.1/8\": address has bits set beyond the /8 "
       "prefix (did you mean 10.0.0.0/8?)"},
      {"example.com/24",
       "allow-list entry 1: \"example.com/24\" is not an IP address or CIDR "
       "(expected e.g. 10.0.0.0/8 or fd00::/8)"},
      {"10.0.0.0/",
       "allow-list entry 1: \"10.0.0.0/\": prefix length must be a number from 0 "
       "to 32"},
      {"10.0.0.0/-1",
       "allow-list entry 1: \"10.0.0.0/-1\": prefix length must be a number from "
       "0 to 32"},
      {"10.0.0.0/8,,127.0.0.1",
       "allow-list entry 2 is empty (write CIDRs separated by single commas)"},
      {"10.0.0.0/8,", "allow-list entry 2 is empty (write CIDRs separated by single commas)"},
  };
  for (const auto& [text, message] : cases) {
    auto list = ParseCidrList(text);
    ASSERT_TRUE(list.error.has_value()) << text;
    EXPECT_EQ(*list.error, message) << text;
    EXPECT_TRUE(list.cidrs.empty()) << text;
  }
}

using testing::FakeDns;

TEST(AddressGuardCheckTest, GlobalAddressesAreReturnedToConnectTo) {
  AddressGuard guard({}, FakeDns({{"hooks.example.com", {"93.184.216.34", "2606:2800::1"}}}));
  auto r = guard.Check("hooks.example.com", 443);
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_EQ(r.addresses.size(), 2u);
  EXPECT_EQ(r.addresses[0].ToString(), "93.184.216.34");
  EXPECT_EQ(r.addresses[1].ToString(), "2606:2800::1");
}

TEST(AddressGuardCheckTest, AnyNonGlobalAddressRefusesTheHost) {
  AddressGuard guard({}, FakeDns({{"rebind.example", {"93.184.216.34", "169.254.169.254"}}}));
  auto r = guard.Check("rebind.example", 443);
  EXPECT_EQ(r.cause, FailureCause::kBlockedAddress);
  EXPECT_TRUE(r.addresses.empty());
  // The tenant learns the category, not what an internal name resolves to.
  EXPECT_NE(r.error.find("rebind.example resolves to a link-local address"), std::string::npos)
      << r.error;
  EXPECT_EQ(r.error.find("169.254"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find("93.184"), std::string::npos) << r.error;
}

TEST(AddressGuardCheckTest, DnsFailureIsNotABlock) {
  AddressGuard guard({}, FakeDns({}));
  auto r = guard.Check("nxdomain.example", 443);
  EXPECT_EQ(r.cause, FailureCause::kDns);
  EXPECT_EQ(r.error, "DNS lookup of nxdomain.example failed: Name or service not known");
  EXPECT_EQ(guard.Check("", 443).cause, FailureCause::kDns);
}

// Answers are reused for the TTL, failures are not, and an answer that turns private after its
// entry expired is refused (the cache bounds how late a rebinding is seen, it never hides one).
TEST(AddressGuardCheckTest, CachedAnswersExpireAndAreStillChecked) {
  std::map<std::string, std::vector<std::string>> table{{"hooks.example.com", {"93.184.216.34"}}};
  int lookups = 0;
  auto counting = [&](const std::string& host, uint16_t port) {
    ++lookups;
    return FakeDns(table)(host, port);
  };
  ManualClock clock(1000);
  auto caching = CachingResolver(counting, clock, 30000);
  AddressGuard guard({}, caching.resolve, caching.cached);
  EXPECT_FALSE(guard.CheckNow("hooks.example.com", 443).has_value());  // would need a lookup
  EXPECT_EQ(lookups, 0);
  EXPECT_TRUE(guard.Check("hooks.example.com", 443).ok());
  ASSERT_TRUE(guard.CheckNow("hooks.example.com", 443).has_value());
  EXPECT_TRUE(guard.CheckNow("hooks.example.com", 443)->ok());
  EXPECT_EQ(guard.CheckNow("127.0.0.1", 443)->cause, FailureCause::kBlockedAddress);  // no DNS
  EXPECT_TRUE(guard.Check("hooks.example.com", 443).ok());
  EXPECT_EQ(lookups, 1);
  EXPECT_TRUE(guard.Check("hooks.example.com", 8443).ok());  // another port, another entry
  EXPECT_EQ(lookups, 2);
  EXPECT_EQ(guard.Check("nxdomain.example", 443).cause, FailureCause::kDns);
  EXPECT_EQ(guard.Check("nxdomain.example", 443).cause, FailureCause::kDns);
  EXPECT_EQ(lookups, 4);                      // failures are asked again
  table["hooks.example.com"] = {"10.0.0.5"};  // the name now points inside
  clock.Advance(29999);
  EXPECT_TRUE(guard.Check("hooks.example.com", 443).ok());  // still the checked public answer
  EXPECT_EQ(lookups, 4);
  clock.Advance(1);
  EXPECT_FALSE(guard.CheckNow("hooks.example.com", 443).has_value());  // expired
  EXPECT_EQ(guard.Check("hooks.example.com", 443).cause, FailureCause::kBlockedAddress);
  EXPECT_EQ(lookups, 5);
}

TEST(AddressGuardCheckTest, AllowListOverridesForItsRangesOnly) {
  auto allow = ParseCidrList("127.0.0.1/32,10.0.0.0/8");
  ASSERT_FALSE(allow.error);
  AddressGuard guard(allow.cidrs, FakeDns({{"internal", {"10.1.2.3"}},
                                           {"mixed", {"10.1.2.3", "192.168.0.1"}},
                                           {"mapped", {"::ffff:10.9.9.9"}}}));
  EXPECT_TRUE(guard.Check("internal", 443).ok());
  EXPECT_TRUE(guard.Check("mapped", 443).ok());  // same host as 10.9.9.9
  EXPECT_EQ(guard.Check("mixed", 443).cause, FailureCause::kBlockedAddress);
  EXPECT_TRUE(guard.Allowed(*IpAddress::Parse("127.0.0.1")));
  EXPECT_FALSE(guard.Allowed(*IpAddress::Parse("127.0.0.2")));
  EXPECT_TRUE(guard.Allowed(*IpAddress::Parse("8.8.8.8")));
}

TEST(AddressGuardCheckTest, RealResolverTurnsNumericHostsIntoAddresses) {
  // glibc accepts these legacy numeric forms; the guard sees the address they really mean.
  AddressGuard guard;
  for (const char* host : {"127.1", "2130706433", "0x7f000001", "127.0.0.1", "[::1]", "::1"}) {
    auto r = guard.Check(host, 443);
    EXPECT_EQ(r.cause, FailureCause::kBlockedAddress) << host << ": " << r.error;
    EXPECT_NE(r.error.find("loopback"), std::string::npos) << r.error;
  }
  auto resolved = Resolve("127.1", 443);
  ASSERT_TRUE(resolved.error.empty()) << resolved.error;
  ASSERT_EQ(resolved.addresses.size(), 1u);
  EXPECT_EQ(resolved.addresses[0].ToString(), "127.0.0.1");
}

TEST(AddressGuardCheckTest, RealResolverAnswersLocalhost) {
  auto resolved = Resolve("localhost", 443);
  ASSERT_TRUE(resolved.error.empty()) << resolved.error;
  ASSERT_FALSE(resolved.addresses.empty());
  for (const auto& a : resolved.addresses) EXPECT_EQ(Classify(a).kind, C::kLoopback);
}

}  // namespace
}  // namespace mambo::delivery
