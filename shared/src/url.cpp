// Webhook URL validation with Boost.URL (header-only: this is the one file that compiles its
// sources). Debian's Boost 1.81 has two parser bugs fixed later (boostorg/url #638, #668): it
// accepts a path that does not start with '/' right after the authority ("https://a.com:443x/"),
// and overflowing ports wrap (":65536" gives 0). Both are checked here on the raw text.
//
// Validation decides what a well-formed target looks like; whether its addresses may be reached
// is the delivery engine's address guard, decided on the resolver's answers (never URL text).
#include <boost/url/src.hpp>

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "mambo/validation.h"

namespace mambo {
namespace {

bool IsAsciiAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
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
  for (char c : last_label) all_digits = all_digits && c >= '0' && c <= '9';
  const bool hex = last_label.size() > 2 && last_label[0] == '0' &&
                   (last_label[1] == 'x' || last_label[1] == 'X');
  if (all_digits || hex) {
    return "URL host is not a valid domain name or IP address (write IPv4 as four decimal numbers)";
  }
  return std::nullopt;
}

}  // namespace

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
  if (colon == std::string_view::npos || colon == 0) {
    return "URL must be an absolute URL starting with https://";
  }
  std::string scheme(text.substr(0, colon));
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (scheme != "https") return "URL must use https";
  if (text.substr(colon, 3) != "://") return "URL must be an absolute URL starting with https://";
  if (non_ascii) {
    return "URL must be ASCII: write international domain names in their xn-- (punycode) form "
           "and percent-encode other characters";
  }

  auto parsed = boost::urls::parse_absolute_uri(boost::core::string_view(text.data(), text.size()));
  if (parsed.has_error()) return "URL is not a valid URL";
  const boost::urls::url_view url = *parsed;
  if (url.has_userinfo()) return "URL must not contain a user name or password";
  if (url.has_fragment()) return "URL must not contain a fragment (#...)";
  if (url.has_port()) {
    const auto port = url.port();
    if (port.empty() || port.size() > 5) return "URL port must be a number from 1 to 65535";
    unsigned long value = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return "URL port must be a number from 1 to 65535";
      value = value * 10 + static_cast<unsigned long>(c - '0');
    }
    if (value < 1 || value > 65535) return "URL port must be a number from 1 to 65535";
  }
  const auto path = url.encoded_path();
  if (!path.empty() && path.front() != '/') {
    // Boost 1.81 bug: text glued to the port ("a.com:443x/") is taken as a relative path.
    return url.has_port() ? "URL port must be a number from 1 to 65535" : "URL is not a valid URL";
  }

  switch (url.host_type()) {
    case boost::urls::host_type::none:
      return "URL must have a host";
    case boost::urls::host_type::ipv4:
      return std::nullopt;
    case boost::urls::host_type::ipv6:
      return std::nullopt;
    case boost::urls::host_type::ipvfuture:
      return "URL host is not a valid domain name or IP address";
    case boost::urls::host_type::name: {
      const auto encoded = url.encoded_host();
      if (encoded.find('%') != boost::core::string_view::npos) {
        return "URL host must not be percent-encoded";
      }
      return HostNameError(std::string_view(encoded.data(), encoded.size()));
    }
  }
  return "URL is not a valid URL";
}

}  // namespace mambo
