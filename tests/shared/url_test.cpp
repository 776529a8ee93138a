// Webhook target URL validation: one table of {url, expected message} run as parameterised tests,
// natively and under node, so the console and webhookd accept and reject exactly the same URLs.
#include <gtest/gtest.h>

#include <boost/url/parse.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mambo/validation.h"

namespace mambo {
namespace {

constexpr const char* kOk = nullptr;
constexpr const char* kRequired = "URL is required";
constexpr const char* kTooLong = "URL must be at most 2048 characters";
constexpr const char* kControl = "URL must not contain whitespace or control characters";
constexpr const char* kAbsolute = "URL must be an absolute URL starting with https://";
constexpr const char* kHttps = "URL must use https";
constexpr const char* kAscii =
    "URL must be ASCII: write international domain names in their xn-- (punycode) form and "
    "percent-encode other characters";
constexpr const char* kUserinfo = "URL must not contain a user name or password";
constexpr const char* kFragment = "URL must not contain a fragment (#...)";
constexpr const char* kPort = "URL port must be a number from 1 to 65535";
constexpr const char* kNoHost = "URL must have a host";
constexpr const char* kBadHost = "URL host is not a valid domain name or IP address";
constexpr const char* kNumericHost =
    "URL host is not a valid domain name or IP address (write IPv4 as four decimal numbers)";
constexpr const char* kHostChar = "URL host contains an invalid character";
constexpr const char* kHostPercent = "URL host must not be percent-encoded";
constexpr const char* kEmptyLabel = "URL host has an empty label (\"..\")";
constexpr const char* kLongLabel = "URL host labels must be at most 63 characters";
constexpr const char* kHyphen = "URL host labels must not start or end with '-'";
constexpr const char* kLongHost = "URL host must be at most 253 characters";
constexpr const char* kZone = "URL host must not contain an IPv6 zone id (the %25... part)";
constexpr const char* kBadIpv6 = "URL host is not a valid IPv6 address";
constexpr const char* kUnclosed = "URL IPv6 address is missing its closing ']'";
constexpr const char* kBrackets =
    "URL IPv6 address must be in square brackets, like https://[2001:db8::1]/";
constexpr const char* kPercent =
    "URL has an invalid percent-encoding ('%' must be followed by two hex digits)";
constexpr const char* kIpv4Prefix =
    "URL host names that begin with an IPv4 address (like 10.0.0.1.example.com) are not "
    "supported";
constexpr const char* kPathChar =
    "URL path or query contains a character that must be percent-encoded";

struct UrlCase {
  const char* name;  // test name suffix
  std::string url;
  const char* error;  // kOk (nullptr) when the URL is valid
};

// Printed in test names and failures: bytes outside printable ASCII escaped, long URLs cut.
std::ostream& operator<<(std::ostream& os, const UrlCase& c) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string shown;
  for (unsigned char ch : c.url.substr(0, 80)) {
    if (ch < 0x20 || ch >= 0x7f || ch == '\\') {
      shown += std::string("\\x") + kHex[ch >> 4] + kHex[ch & 15];
    } else {
      shown += static_cast<char>(ch);
    }
  }
  if (c.url.size() > 80) shown += "... (" + std::to_string(c.url.size()) + " characters)";
  return os << '"' << shown << '"';
}

// "https://a.com/" followed by 'a's up to `length` characters.
std::string UrlOfLength(size_t length, const std::string& prefix = "https://a.com/") {
  return prefix + std::string(length - prefix.size(), 'a');
}

const std::vector<UrlCase>& Cases() {
  static const std::vector<UrlCase> cases = {
      // Valid targets.
      {"Simple", "https://example.com", kOk},
      {"SimpleWithPath", "https://example.com/webhooks/mambo", kOk},
      {"UppercaseScheme", "HTTPS://EXAMPLE.COM/Hook", kOk},
      {"MixedCaseScheme", "hTtPs://example.com/", kOk},
      {"Subdomain", "https://hooks.eu-1.example.co.uk/in", kOk},
      {"QueryString", "https://example.com/hook?token=abc&team=42", kOk},
      {"EmptyQuery", "https://example.com?", kOk},
      {"QueryWithSlashAndQuestion", "https://example.com/a?b?c/d", kOk},
      {"PercentInPath", "https://example.com/a%20b/%E2%9C%93", kOk},
      {"PercentInQuery", "https://example.com/?redirect=%2Fhome%3Fx%3D1", kOk},
      {"Port1", "https://example.com:1/", kOk},
      {"Port443", "https://example.com:443/", kOk},
      {"Port65535", "https://example.com:65535/", kOk},
      {"PortLeadingZero", "https://example.com:0443/", kOk},
      {"TrailingDot", "https://example.com./hook", kOk},
      {"Underscore", "https://my_service.example.com/", kOk},
      {"Host253",
       "https://" + std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
           "." + std::string(61, 'd') + "./",
       kOk},
      {"Label63", "https://" + std::string(63, 'a') + ".example.com/", kOk},
      {"SingleLabel", "https://localhost/hook", kOk},
      {"Punycode", "https://xn--bcher-kva.example/", kOk},
      {"Ipv4", "https://203.0.113.7/hook", kOk},
      {"Ipv4WithPort", "https://203.0.113.7:8443/hook", kOk},
      {"Ipv4LikeLabels", "https://1.2.3.example.com/hook", kOk},
      {"Ipv6Loopback", "https://[::1]/", kOk},
      {"Ipv6Documentation", "https://[2001:db8::1]/hook", kOk},
      {"Ipv6WithPort", "https://[2001:db8::1]:8443/hook", kOk},
      {"Ipv6Mapped", "https://[::ffff:192.0.2.1]/", kOk},
      {"Length2048", UrlOfLength(2048), kOk},

      // Scheme.
      {"Empty", "", kRequired},
      {"Http", "http://example.com/", kHttps},
      {"HttpUppercase", "HTTP://example.com/", kHttps},
      {"Ftp", "ftp://example.com/file", kHttps},
      {"Javascript", "javascript:alert(1)", kHttps},
      {"Data", "data:text/html,<script>alert(1)</script>", kHttps},
      {"Mailto", "mailto:ops@example.com", kHttps},
      {"Wss", "wss://example.com/socket", kHttps},
      {"HttpsPlusUnix", "https+unix://example.com/", kHttps},
      {"NoScheme", "example.com/hook", kAbsolute},
      {"NoSchemeWithPort", "example.com:8443/hook", kAbsolute},
      {"LocalhostWithPort", "localhost:8080", kAbsolute},
      {"SchemeRelative", "//example.com/hook", kAbsolute},
      {"RelativePath", "/webhooks?x=a:b", kAbsolute},
      {"DotRelative", "./hook:1", kAbsolute},
      {"EmptyScheme", "://example.com", kAbsolute},
      {"SchemeStartsWithDigit", "1https://example.com", kAbsolute},
      {"HttpsWithoutSlashes", "https:example.com", kAbsolute},
      {"HttpsOneSlash", "https:/example.com", kAbsolute},
      {"HttpsMissingColon", "https//example.com", kAbsolute},

      // Length.
      {"Length2049", UrlOfLength(2049), kTooLong},
      {"Length2049Http", UrlOfLength(2049, "http://a.com/"), kTooLong},

      // Whitespace and control characters.
      {"Space", "https://example.com/a b", kControl},
      {"LeadingSpace", " https://example.com/", kControl},
      {"TrailingSpace", "https://example.com/ ", kControl},
      {"Tab", "https://example.com/\thook", kControl},
      {"CrLf", "https://example.com/\r\nX-Injected: 1", kControl},
      {"Nul", std::string("https://example.com/\0x", 22), kControl},
      {"Del", "https://example.com/\x7f", kControl},
      {"OnlySpace", " ", kControl},

      // Host.
      {"NoHost", "https://", kNoHost},
      {"NoHostWithPath", "https:///hook", kNoHost},
      {"NoHostWithPort", "https://:443/", kNoHost},
      {"HostOnlyDot", "https://./", kNoHost},
      {"EmptyLabel", "https://a..example.com/", kEmptyLabel},
      {"LeadingDot", "https://.example.com/", kEmptyLabel},
      {"TwoTrailingDots", "https://example.com../", kEmptyLabel},
      {"Label64", "https://" + std::string(64, 'a') + ".example.com/", kLongLabel},
      {"Host254",
       "https://" + std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
           "." + std::string(62, 'd') + "/",
       kLongHost},
      {"LeadingHyphen", "https://-example.com/", kHyphen},
      {"TrailingHyphen", "https://example-.com/", kHyphen},
      {"Backslash", "https://example.com\\@evil.com/", kUserinfo},
      {"BackslashPath", "https://example.com\\hook", kHostChar},
      {"SubDelimInHost", "https://exa$mple.com/", kHostChar},
      {"PercentInHost", "https://%65xample.com/", kHostPercent},
      {"PercentCrLfInHost", "https://example.com%0d%0aX-Injected:1/", kHostPercent},
      {"PercentEncodedIpv4Host", "https://%31%32%37.0.0.1/", kHostPercent},

      // Userinfo and fragment.
      {"Userinfo", "https://user:pass@example.com/", kUserinfo},
      {"UserOnly", "https://user@example.com/", kUserinfo},
      {"EmptyUserinfo", "https://@example.com/", kUserinfo},
      {"UserinfoConfusion", "https://example.com@evil.example/", kUserinfo},
      {"Fragment", "https://example.com/hook#section", kFragment},
      {"EmptyFragment", "https://example.com#", kFragment},
      {"FragmentAfterQuery", "https://example.com/?a=1#x", kFragment},

      // Ports (Boost 1.81 wraps 65536 to 0 and 99999 to 34463; checked on the text).
      {"Port0", "https://example.com:0/", kPort},
      {"Port65536", "https://example.com:65536/", kPort},
      {"Port99999", "https://example.com:99999/", kPort},
      {"PortSixDigits", "https://example.com:100443/", kPort},
      {"PortTrailingLetters", "https://example.com:443x/", kPort},
      {"PortTrailingLettersNoSlash", "https://example.com:443x", kPort},
      {"PortEmpty", "https://example.com:/", kPort},
      {"PortNegative", "https://example.com:-1/", kPort},
      {"PortTwice", "https://example.com:443:80/", kPort},
      {"Ipv6PortTrailingLetters", "https://[::1]:443x/", kPort},
      {"Ipv6Port0", "https://[::1]:0/", kPort},

      // IPv4 and numeric host forms that resolvers turn into addresses.
      {"Ipv4TooManyParts", "https://1.2.3.4.5/", kNumericHost},
      {"Ipv4OctetTooLarge", "https://256.1.1.1/", kNumericHost},
      {"DecimalInteger", "https://2130706433/", kNumericHost},
      {"Hex", "https://0x7f000001/", kNumericHost},
      {"HexUppercase", "https://0X7F000001/", kNumericHost},
      {"ShortDotted", "https://127.1/", kNumericHost},
      {"Octal", "https://0177.0.0.1/", kNumericHost},
      {"Ipv4TrailingDot", "https://127.0.0.1./", kNumericHost},
      {"NumericTld", "https://example.123/", kNumericHost},

      // Boost 1.81 cuts these hosts after the IPv4 address; refused so no sender misreads them.
      {"Ipv4PrefixedName", "https://10.0.0.1.nip.io/hook", kIpv4Prefix},
      {"Ipv4PrefixedLabel", "https://1.2.3.45x.example/", kIpv4Prefix},
      {"Ipv4PrefixedHyphen", "https://1.2.3.4-a.example/", kIpv4Prefix},

      // IPv6 literals.
      {"Ipv6Unclosed", "https://[::1/", kUnclosed},
      {"Ipv6UnbracketedLoopback", "https://::1/", kBrackets},
      {"Ipv6Unbracketed", "https://2001:db8::1/hook", kBrackets},
      {"Ipv6ExtraBracket", "https://[::1]]/", kBadHost},
      {"Ipv6TextAfterBracket", "https://[::1]x/", kBadHost},
      {"Ipv6ReversedBrackets", "https://]::1[/", kHostChar},
      {"Ipv6Empty", "https://[]/", kBadIpv6},
      {"Ipv6Invalid", "https://[2001:db8::g]/", kBadIpv6},
      {"Ipv6TooManyGroups", "https://[1:2:3:4:5:6:7:8:9]/", kBadIpv6},
      {"Ipv6Ipv4InBrackets", "https://[127.0.0.1]/", kBadIpv6},
      {"Ipv6ZoneEncoded", "https://[fe80::1%25eth0]/", kZone},
      {"Ipv6ZoneRaw", "https://[fe80::1%eth0]/", kZone},
      {"IpvFuture", "https://[v1.fe80::1]/", kBadHost},

      // International domain names: punycode only.
      {"IdnUnicodeHost",
       "https://b\xc3\xbc"
       "cher.example/",
       kAscii},
      {"IdnUnicodePath", "https://example.com/caf\xc3\xa9", kAscii},
      {"IdnFullwidthDot",
       "https://example\xef\xbc\x8e"
       "com/",
       kAscii},
      {"IdnHttpFirst",
       "http://b\xc3\xbc"
       "cher.example/",
       kHttps},

      // Percent-encoding and characters that must be encoded in the path and query.
      {"PercentTruncated", "https://example.com/a%2", kPercent},
      {"PercentAtEnd", "https://example.com/a%", kPercent},
      {"PercentNotHex", "https://example.com/?q=%zz", kPercent},
      {"BraceInQuery", "https://example.com/?q={x}", kPathChar},
      {"QuoteInPath", "https://example.com/\"x\"", kPathChar},
      {"PipeInPath", "https://example.com/a|b", kPathChar},
  };
  return cases;
}

class UrlValidation : public ::testing::TestWithParam<UrlCase> {};

TEST_P(UrlValidation, GivesTheExpectedMessage) {
  const UrlCase& c = GetParam();
  const std::optional<std::string> error = UrlError(c.url);
  if (c.error == kOk) {
    EXPECT_EQ(error, std::nullopt) << "URL: " << c.url;
  } else {
    EXPECT_EQ(error, std::optional<std::string>(c.error)) << "URL: " << c.url;
  }
}

INSTANTIATE_TEST_SUITE_P(Url, UrlValidation, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<UrlCase>& info) {
                           return std::string(info.param.name);
                         });

TEST(UrlTable, HasEnoughCasesWithUniqueNames) {
  std::set<std::string> names;
  size_t valid = 0;
  for (const auto& c : Cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << c.name;
    valid += c.error == kOk;
  }
  EXPECT_GE(Cases().size(), 60u);
  EXPECT_GE(valid, 20u);
}

// webhookd's sender parses accepted URLs with Boost.URL 1.81: it must read the same authority
// and a path starting with '/' for every URL validation accepts.
TEST(UrlTable, AcceptedUrlsMeanTheSameToBoost) {
  for (const auto& c : Cases()) {
    if (c.error != kOk) continue;
    const auto parsed = boost::urls::parse_absolute_uri(c.url);
    ASSERT_FALSE(parsed.has_error()) << c.url;
    const std::string rest = c.url.substr(c.url.find("://") + 3);
    const std::string authority = rest.substr(0, rest.find_first_of("/?"));
    EXPECT_EQ(std::string(parsed->encoded_authority()), authority) << c.url;
    const auto path = parsed->encoded_path();
    EXPECT_TRUE(path.empty() || path.front() == '/') << c.url;
  }
}

TEST(UrlTable, LengthHelperBuildsExactLengths) {
  EXPECT_EQ(UrlOfLength(2048).size(), 2048u);
  EXPECT_EQ(UrlOfLength(2049).size(), 2049u);
}

}  // namespace
}  // namespace mambo

namespace mambo {
namespace {

TEST(RedactUrl, DropsUserInfoAndQuery) {
  EXPECT_EQ(RedactUrl("https://hooks.example.com/a/b"), "https://hooks.example.com/a/b");
  EXPECT_EQ(RedactUrl("https://hooks.example.com/a?token=s3cret&x=1"),
            "https://hooks.example.com/a?...");
  EXPECT_EQ(RedactUrl("https://user:pw@hooks.example.com:8443/a?k=v"),
            "https://hooks.example.com:8443/a?...");
  EXPECT_EQ(RedactUrl("https://hooks.example.com?k=v"), "https://hooks.example.com?...");
  EXPECT_EQ(RedactUrl("https://hooks.example.com/#frag"), "https://hooks.example.com/?...");
  EXPECT_EQ(RedactUrl("not a url?secret"), "not a url?...");
  EXPECT_EQ(RedactUrl("https://a@b@c.example/"), "https://c.example/");
}

}  // namespace
}  // namespace mambo

namespace mambo {
namespace {

TEST(RedactUrl, TextBeforeSomethingLikeASchemeIsNotTrusted) {
  // Found by fuzz_url: a '#' before "://" once survived, with what followed it.
  EXPECT_EQ(RedactUrl("h#x://a.example/?q"), "h?...");
}

}  // namespace
}  // namespace mambo
