#include "http/request_framer.h"

#include <algorithm>

#include "mambo/text.h"

namespace mambo::http {
namespace {

bool IsTchar(unsigned char c) {
  // RFC 9110 5.6.2 token characters.
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return IsTchar(static_cast<unsigned char>(c)); });
}

char Lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool EqualsNoCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr size_t kMaxMethodBytes = 20;
constexpr size_t kMaxChunkLine = 1024;  // the size in hex and any chunk extensions

}  // namespace

std::string FramedRequest::Serialize() const {
  std::string out;
  size_t size = method.size() + target.size() + body.size() + 64;
  for (const auto& [k, v] : headers) size += k.size() + v.size() + 4;
  out.reserve(size);
  out.append(method).append(" ").append(target).append(" ").append(version).append("\r\n");
  for (const auto& [k, v] : headers) out.append(k).append(": ").append(v).append("\r\n");
  out.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n\r\n");
  out.append(body);
  return out;
}

RequestFramer::State RequestFramer::Fail(int status, std::string message) {
  state_ = State::kError;
  error_ = FramingError{status, std::move(message)};
  return state_;
}

std::optional<std::string_view> RequestFramer::Line(size_t max_line, int over_status,
                                                    bool& failed) {
  const size_t available = buffer_.size() - pos_;
  const size_t scan = std::min(available, max_line + 2);
  const size_t nl = buffer_.find('\n', pos_);
  if (nl == std::string::npos || nl - pos_ >= scan) {
    if (available > max_line + 1) {
      failed = true;
      Fail(over_status, over_status == 414 ? "Request target is longer than " +
                                                 std::to_string(limits_.max_target_bytes) + " bytes"
                                           : "Request head is larger than the limit");
    }
    return std::nullopt;
  }
  if (nl == pos_ || buffer_[nl - 1] != '\r') {
    failed = true;
    Fail(400, "Lines of the request head must end with CRLF");
    return std::nullopt;
  }
  std::string_view line(buffer_.data() + pos_, nl - 1 - pos_);
  pos_ = nl + 1;
  return line;
}

bool RequestFramer::ParseRequestLine(std::string_view line) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    Fail(400, "Malformed request line");
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || method.size() > kMaxMethodBytes) {
    Fail(400, "Malformed request method");
    return false;
  }
  if (target.size() > limits_.max_target_bytes) {
    Fail(414,
         "Request target is longer than " + std::to_string(limits_.max_target_bytes) + " bytes");
    return false;
  }
  // Visible ASCII only: anything else in a request target must be percent-encoded.
  const bool visible = std::all_of(target.begin(), target.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (target.empty() || !visible || (target[0] != '/' && target != "*")) {
    Fail(400, "Request target must be a path of visible ASCII characters");
    return false;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.size() == 8 && version.substr(0, 5) == "HTTP/") {
      Fail(505, "Only HTTP/1.1 and HTTP/1.0 are supported");
    } else {
      Fail(400, "Malformed HTTP version");
    }
    return false;
  }
  request_.method = std::string(method);
  request_.target = std::string(target);
  request_.version = std::string(version);
  request_.keep_alive = version == "HTTP/1.1";
  return true;
}

bool RequestFramer::ParseHeaderLine(std::string_view line, bool trailer) {
  if (++header_lines_ > limits_.max_header_lines) {
    Fail(431, "More than " + std::to_string(limits_.max_header_lines) + " header lines");
    return false;
  }
  if (line.front() == ' ' || line.front() == '\t') {
    Fail(400, "Folded header lines are not accepted");
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    Fail(400, "Malformed header line");
    return false;
  }
  const std::string_view value = TrimOws(line.substr(colon + 1));
  bool high = false;
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      Fail(400, "Header values may not contain control characters");
      return false;
    }
    high = high || c >= 0x80;
  }
  if (high && !IsValidUtf8(value)) {
    Fail(400, "Header values must be ASCII or valid UTF-8");
    return false;
  }
  if (!trailer) request_.headers.emplace_back(line.substr(0, colon), value);
  return true;
}

bool RequestFramer::HeadComplete() {
  std::optional<std::string> length;
  bool chunked = false, has_host = false, duplicate_host = false, transfer_encoding = false;
  std::vector<std::pair<std::string, std::string>> kept;
  kept.reserve(request_.headers.size());
  for (auto& [name, value] : request_.headers) {
    if (EqualsNoCase(name, "Content-Length")) {
      const bool digits = !value.empty() && value.size() <= 18 &&
                          value.find_first_not_of("0123456789") == std::string::npos;
      if (!digits || (length && *length != value)) {
        Fail(400, "Invalid or conflicting Content-Length");
        return false;
      }
      length = value;
      continue;
    }
    if (EqualsNoCase(name, "Transfer-Encoding")) {
      if (transfer_encoding || !EqualsNoCase(value, "chunked")) {
        Fail(501, "Transfer-Encoding other than chunked is not supported");
        return false;
      }
      transfer_encoding = chunked = true;
      continue;
    }
    if (EqualsNoCase(name, "Expect")) {
      if (!EqualsNoCase(value, "100-continue")) {
        Fail(417, "Only Expect: 100-continue is supported");
        return false;
      }
      wants_continue_ = true;
      continue;
    }
    if (EqualsNoCase(name, "Host")) {
      duplicate_host = has_host;
      has_host = true;
    } else if (EqualsNoCase(name, "Connection")) {
      // A list of options; only close and keep-alive matter here.
      std::string_view rest = value;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string_view option = TrimOws(rest.substr(0, comma));
        if (EqualsNoCase(option, "close")) request_.keep_alive = false;
        if (EqualsNoCase(option, "keep-alive") && request_.version == "HTTP/1.0") {
          request_.keep_alive = true;
        }
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
    kept.emplace_back(std::move(name), std::move(value));
  }
  request_.headers = std::move(kept);
  if (duplicate_host || (!has_host && request_.version == "HTTP/1.1")) {
    Fail(400, "An HTTP/1.1 request needs exactly one Host header");
    return false;
  }
  if (chunked && (length || request_.version == "HTTP/1.0")) {
    // Both framings at once is how requests are smuggled past proxies (RFC 9112 6.1).
    Fail(400, "Transfer-Encoding with Content-Length, or in HTTP/1.0, is not accepted");
    return false;
  }
  const uint64_t declared = length ? std::stoull(*length) : 0;
  if (declared > limits_.max_body_bytes) {
    Fail(413, "Request body is larger than the limit (" +
                  std::to_string(limits_.max_body_bytes / 1024) + " KiB)");
    return false;
  }
  if (chunked) {
    phase_ = Phase::kChunkSize;
  } else if (declared > 0) {
    phase_ = Phase::kBody;
    body_left_ = static_cast<size_t>(declared);
    request_.body.reserve(body_left_);
  } else {
    wants_continue_ = false;  // nothing to wait for
    state_ = State::kComplete;
  }
  return true;
}

RequestFramer::State RequestFramer::Feed(std::string_view bytes) {
  if (state_ == State::kError) return state_;
  buffer_.append(bytes.data(), bytes.size());
  return Advance();
}

RequestFramer::State RequestFramer::Advance() {
  bool failed = false;
  while (state_ == State::kNeedMore) {
    if (pos_ == buffer_.size()) break;
    started_ = true;
    switch (phase_) {
      case Phase::kHead: {
        const size_t left =
            limits_.max_head_bytes > head_bytes_ ? limits_.max_head_bytes - head_bytes_ : 0;
        const size_t max_line =
            have_request_line_ ? left
                               : std::min(left, limits_.max_target_bytes + kMaxMethodBytes + 16);
        auto line = Line(max_line, have_request_line_ ? 431 : 414, failed);
        if (failed) return state_;
        if (!line) return state_;
        head_bytes_ += line->size() + 2;
        if (!have_request_line_) {
          // Empty lines before a request are tolerated (RFC 9112 2.2), a few of them.
          if (line->empty()) {
            if (head_bytes_ > 8) return Fail(400, "Malformed request line");
            continue;
          }
          if (!ParseRequestLine(*line)) return state_;
          have_request_line_ = true;
        } else if (line->empty()) {
          if (!HeadComplete()) return state_;
        } else if (!ParseHeaderLine(*line, false)) {
          return state_;
        }
        break;
      }
      case Phase::kBody:
      case Phase::kChunkData: {
        const size_t n = std::min(body_left_, buffer_.size() - pos_);
        request_.body.append(buffer_, pos_, n);
        pos_ += n;
        body_left_ -= n;
        if (pos_ == buffer_.size()) {  // all of it copied into the body: do not hold it twice
          buffer_.clear();
          pos_ = 0;
        }
        if (body_left_ == 0) {
          if (phase_ == Phase::kBody) {
            state_ = State::kComplete;
          } else {
            phase_ = Phase::kChunkDataEnd;
          }
        }
        break;
      }
      case Phase::kChunkDataEnd: {
        if (buffer_.size() - pos_ < 2) return state_;
        if (buffer_.compare(pos_, 2, "\r\n") != 0) return Fail(400, "Malformed chunked body");
        pos_ += 2;
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kChunkSize: {
        auto line = Line(kMaxChunkLine, 400, failed);
        if (failed) return state_;
        if (!line) return state_;
        const std::string_view size_text = line->substr(0, line->find(';'));
        const std::string_view hex = TrimOws(size_text);
        if (hex.empty() || hex.size() > 15 ||
            hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
          return Fail(400, "Malformed chunk size");
        }
        const uint64_t size = std::stoull(std::string(hex), nullptr, 16);
        if (size > limits_.max_body_bytes - request_.body.size()) {
          return Fail(413, "Request body is larger than the limit (" +
                               std::to_string(limits_.max_body_bytes / 1024) + " KiB)");
        }
        if (size == 0) {
          phase_ = Phase::kTrailers;
        } else {
          body_left_ = static_cast<size_t>(size);
          phase_ = Phase::kChunkData;
        }
        break;
      }
      case Phase::kTrailers: {
        const size_t left =
            limits_.max_head_bytes > head_bytes_ ? limits_.max_head_bytes - head_bytes_ : 0;
        auto line = Line(left, 431, failed);
        if (failed) return state_;
        if (!line) return state_;
        head_bytes_ += line->size() + 2;
        if (line->empty()) {
          state_ = State::kComplete;
        } else if (!ParseHeaderLine(*line, true)) {
          return state_;
        }
        break;
      }
    }
  }
  return state_;
}

FramedRequest RequestFramer::Take() {
  FramedRequest out = std::move(request_);
  request_ = FramedRequest{};
  buffer_.erase(0, pos_);
  pos_ = 0;
  state_ = State::kNeedMore;
  phase_ = Phase::kHead;
  started_ = false;
  wants_continue_ = false;
  have_request_line_ = false;
  head_bytes_ = header_lines_ = body_left_ = 0;
  return out;
}

}  // namespace mambo::http
