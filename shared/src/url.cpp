// Webhook URL validation. Boost.URL (header-only: this is the one file that compiles its sources)
// checks IP literals and the path and query grammar; the authority is split here, on the raw
// text, because Debian's Boost 1.81 gets it wrong in three ways fixed later (boostorg/url #638,
// #668): it accepts a path that does not start with '/' right after the authority
// ("https://a.com:443x/" is port 443 + path "x/"), overflowing ports wrap (":65536" gives 0), and
// a host that starts like an IPv4 address is cut after it ("https://10.0.0.1.nip.io/" parses as
// host 10.0.0.1 + path ".nip.io/"). Code that needs the host of a validated URL must not take it
// from Boost 1.81's parser for hosts like the last one.
//
// Validation decides what a well-formed target looks like; whether its addresses may be reached
// is the delivery engine's address guard, decided on the resolver's answers (never URL text).
#include <algorithm>
#include <boost/url/ipv4_address.hpp>
#include <boost/url/ipv6_address.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/src.hpp>
#include <cctype>
#include <string>

#include "mambo/validation.h"

namespace mambo {
namespace {

constexpr const char* kAbsoluteMessage = "URL must be an absolute URL starting with https://";
constexpr const char* kPortMessage = "URL port must be a number from 1 to 65535";
constexpr const char* kBadHostMessage = "URL host is not a valid domain name or IP address";

bool IsAsciiAlpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsAsciiDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsAsciiAlnum(char c) {
  return IsAsciiAlpha(c) || IsAsciiDigit(c);
}
bool IsHexDigit(char c) {
  return IsAsciiDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

boost::core::string_view ToBoost(std::string_view s) {
  return {s.data(), s.size()};
}

// RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool IsSchemeSyntax(std::string_view scheme) {
  if (scheme.empty() || !IsAsciiAlpha(scheme.front())) return false;
  for (char c : scheme) {
    if (!IsAsciiAlnum(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// "localhost:8080/hook" or "example.com:443": a host and port typed without a scheme.
bool LooksLikePort(std::string_view after_colon) {
  size_t digits = 0;
  while (digits < after_colon.size() && IsAsciiDigit(after_colon[digits])) ++digits;
  return digits > 0 &&
         (digits == after_colon.size() || after_colon[digits] == '/' || after_colon[digits] == '?');
}

// A DNS host name: dot-separated labels of letters, digits, '-' and '_' (seen in real hosts),
// not starting or ending with '-', 1..63 characters each, 253 in all; one trailing dot allowed.
// The last label must not be all digits: "127.1", "2130706433" and "0x7f000001" are numeric
// forms of IP addresses that resolvers accept and people use to sneak past filters.
std::optional<std::string> HostNameError(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return "URL must have a host";
  if (host.size() > 253) return "URL host must be at most 253 characters";
  std::string_view last_label;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == std::string_view::npos) dot = host.size();
    std::string_view label = host.substr(start, dot - start);
    if (label.empty()) return "URL host has an empty label (\"..\")";
    if (label.size() > 63) return "URL host labels must be at most 63 characters";
    for (char c : label) {
      if (!IsAsciiAlnum(c) && c != '-' && c != '_') {
        return "URL host contains an invalid character";
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return "URL host labels must not start or end with '-'";
    }
    last_label = label;
    start = dot + 1;
  }
  bool all_digits = true;
  for (char c : last_label) all_digits = all_digits && IsAsciiDigit(c);
  const bool hex = last_label.size() > 2 && last_label[0] == '0' &&
                   (last_label[1] == 'x' || last_label[1] == 'X');
  if (all_digits || hex) {
    return "URL host is not a valid domain name or IP address (write IPv4 as four decimal numbers)";
  }
  return std::nullopt;
}

std::optional<std::string> HostError(std::string_view host) {
  if (host.empty()) return "URL must have a host";
  if (host.front() == '[') {
    const std::string_view inner = host.substr(1, host.size() - 2);  // host ends with ']'
    if (!inner.empty() && (inner.front() == 'v' || inner.front() == 'V')) return kBadHostMessage;
    if (inner.find('%') != std::string_view::npos) {
      return "URL host must not contain an IPv6 zone id (the %25... part)";
    }
    if (boost::urls::parse_ipv6_address(ToBoost(inner)).has_error()) {
      return "URL host is not a valid IPv6 address";
    }
    return std::nullopt;
  }
  if (host.find('%') != std::string_view::npos) return "URL host must not be percent-encoded";
  if (!boost::urls::parse_ipv4_address(ToBoost(host)).has_error()) return std::nullopt;
  return HostNameError(host);
}

std::optional<std::string> PortError(std::string_view port) {
  if (port.empty() || port.size() > 5) return kPortMessage;
  unsigned long value = 0;
  for (char c : port) {
    if (!IsAsciiDigit(c)) return kPortMessage;
    value = value * 10 + static_cast<unsigned long>(c - '0');
  }
  if (value < 1 || value > 65535) return kPortMessage;
  return std::nullopt;
}

}  // namespace

std::string RedactUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  const bool has_scheme =
      scheme_end != std::string_view::npos && IsSchemeSyntax(url.substr(0, scheme_end));
  const size_t authority_start = has_scheme ? scheme_end + 3 : 0;
  const size_t authority_end = std::min(url.find_first_of("/?#", authority_start), url.size());
  const size_t at = url.substr(0, authority_end).rfind('@');
  const size_t host_start =
      at != std::string_view::npos && at >= authority_start ? at + 1 : authority_start;
  std::string out(url.substr(0, authority_start));
  out += url.substr(host_start, authority_end - host_start);
  const std::string_view tail = url.substr(authority_end);
  const size_t query = tail.find_first_of("?#");
  out += tail.substr(0, query);
  if (query != std::string_view::npos) out += "?...";
  return out;
}

std::optional<std::string> UrlError(std::string_view text) {
  if (text.empty()) return "URL is required";
  if (text.size() > kMaxUrlLength) return "URL must be at most 2048 characters";
  bool non_ascii = false;
  for (unsigned char c : text) {
    if (c <= 0x20 || c == 0x7f) return "URL must not contain whitespace or control characters";
    non_ascii = non_ascii || c >= 0x80;
  }

  // Scheme first, so "http://..." gets the message that matters even if the rest is odd too.
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return kAbsoluteMessage;
  std::string scheme(text.substr(0, colon));
  if (!IsSchemeSyntax(scheme)) return kAbsoluteMessage;  // "/hook?a=b:c", "://a.com"
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "https") {
    return LooksLikePort(text.substr(colon + 1)) ? kAbsoluteMessage : "URL must use https";
  }
  if (text.substr(colon, 3) != "://") return kAbsoluteMessage;
  if (non_ascii) {
    return "URL must be ASCII: write international domain names in their xn-- (punycode) form "
           "and percent-encode other characters";
  }

  // authority = [ userinfo "@" ] host [ ":" port ], up to the first '/', '?' or '#'.
  const std::string_view rest = text.substr(colon + 3);
  const size_t authority_end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view tail = rest.substr(authority_end);  // path, query, fragment
  if (authority.find('@') != std::string_view::npos) {
    return "URL must not contain a user name or password";
  }

  std::string_view host, port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return "URL IPv6 address is missing its closing ']'";
    host = authority.substr(0, close + 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return kBadHostMessage;
      has_port = true;
      port = after.substr(1);
    }
  } else {
    const size_t port_colon = authority.find(':');
    host = authority.substr(0, port_colon);
    if (port_colon != std::string_view::npos) {
      has_port = true;
      port = authority.substr(port_colon + 1);
      if (port.find(':') != std::string_view::npos &&
          authority.find_first_not_of("0123456789abcdefABCDEF:.") == std::string_view::npos) {
        return "URL IPv6 address must be in square brackets, like https://[2001:db8::1]/";
      }
    }
  }
  if (auto e = HostError(host)) return e;
  if (has_port) {
    if (auto e = PortError(port)) return e;
  }

  if (tail.find('#') != std::string_view::npos) return "URL must not contain a fragment (#...)";
  for (size_t i = 0; i < tail.size(); ++i) {
    if (tail[i] == '%' &&
        (i + 2 >= tail.size() || !IsHexDigit(tail[i + 1]) || !IsHexDigit(tail[i + 2]))) {
      return "URL has an invalid percent-encoding ('%' must be followed by two hex digits)";
    }
  }
  // The path and query on a placeholder authority: Boost checks their grammar.
  const std::string path_and_query = "https://h" + std::string(tail);
  if (boost::urls::parse_uri(boost::core::string_view(path_and_query)).has_error()) {
    return "URL path or query contains a character that must be percent-encoded";
  }
  // Code that sends to the URL may parse it with Boost 1.81 too, which cuts a host name after a
  // leading IPv4 address ("1.1.1.1.nip.io" becomes host 1.1.1.1): refuse URLs it would misread,
  // so a delivery can never go to a host other than the one the user typed.
  const auto whole = boost::urls::parse_uri(ToBoost(text));
  if (whole.has_error() || whole->encoded_authority() != ToBoost(authority)) {
    if (!whole.has_error() && whole->host_type() == boost::urls::host_type::ipv4) {
      return "URL host names that begin with an IPv4 address (like 10.0.0.1.example.com) are "
             "not supported";
    }
    return "URL is not a valid URL";
  }
  return std::nullopt;
}

}  // namespace mambo
