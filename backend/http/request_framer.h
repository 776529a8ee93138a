#pragma once
// Reads HTTP/1.1 requests off a byte stream under hard limits, before anything else sees them.
//
// cpp-httplib 0.11.4 (Debian's) reads chunked and length-less bodies without its payload limit,
// bounds one header line but not how many there are, and holds a thread per connection while it
// waits for bytes. So webhookd's front (http/front_server.h) reads each request itself, with this
// framer, on one event-loop thread, and hands cpp-httplib only complete requests rewritten into
// one strict form: the request line, the headers it keeps, `Content-Length` and the decoded body.
// Whatever the client sent (chunked, pipelined, split into single bytes), the handlers see a
// request that passed every limit here.
//
// Refused here, each with its HTTP status: a head over max_head_bytes or max_header_lines (431),
// a request target over max_target_bytes (414), bytes that are not visible ASCII in the request
// line, control characters or invalid UTF-8 in a header (400), obsolete line folding and
// whitespace before a header's colon (400: both are request-smuggling vectors), a version other
// than HTTP/1.0 and 1.1 (505), Transfer-Encoding other than chunked (501) or beside a
// Content-Length (400), conflicting Content-Lengths (400), and a body over max_body_bytes (413),
// which is known before the body is read for Content-Length and as soon as a chunk says so.
// A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3).
//
// Pure code without I/O: fuzzed (tests/fuzz) and tested alone.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mambo::http {

struct FramerLimits {
  size_t max_target_bytes = 8 * 1024;
  size_t max_head_bytes = 16 * 1024;  // request line, headers and trailers together
  size_t max_header_lines = 100;
  size_t max_body_bytes = 256 * 1024;
};

struct FramedRequest {
  std::string method;
  std::string target;
  std::string version;                                       // "HTTP/1.1" or "HTTP/1.0"
  std::vector<std::pair<std::string, std::string>> headers;  // as kept, in order
  std::string body;
  bool keep_alive = true;  // what the client asked for (HTTP/1.1 default, Connection header)
  // The request in the one form handed on: request line, kept headers, Content-Length, body.
  std::string Serialize() const;
};

struct FramingError {
  int status = 400;
  std::string message;
};

class RequestFramer {
 public:
  enum class State {
    kNeedMore,  // feed more bytes
    kComplete,  // Take() the request; bytes after it stay for the next one
    kError,     // error() says why; the connection must be answered and closed
  };

  explicit RequestFramer(FramerLimits limits = {}) : limits_(limits) {}

  // Appends bytes read from the connection and advances. Returns the new state.
  State Feed(std::string_view bytes);
  // Advances over bytes already buffered (after Take(), for a pipelined request).
  State Advance();

  State state() const { return state_; }
  const FramingError& error() const { return error_; }
  // True once a request has begun (a byte of it arrived) and is not complete: the connection is
  // mid-request, not idle.
  bool in_request() const { return started_ && state_ == State::kNeedMore; }
  // True when the head is complete, a body follows, and the client sent Expect: 100-continue
  // (it waits for "100 Continue" before the body). Cleared by ContinueSent().
  bool wants_continue() const { return wants_continue_; }
  void ContinueSent() { wants_continue_ = false; }
  // Bytes held: the unread rest and the request being assembled (for the front's memory budget).
  size_t buffered() const { return buffer_.size() - pos_ + request_.body.size(); }

  // The complete request; resets for the next one. Only in kComplete.
  FramedRequest Take();

 private:
  enum class Phase { kHead, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kBody };

  State Fail(int status, std::string message);
  // A complete line ("...\r\n") from the buffer, without its CRLF; nullopt if none yet.
  std::optional<std::string_view> Line(size_t max_line, int over_status, bool& failed);
  bool ParseRequestLine(std::string_view line);
  bool ParseHeaderLine(std::string_view line, bool trailer);
  bool HeadComplete();

  FramerLimits limits_;
  std::string buffer_;
  size_t pos_ = 0;  // parsed up to here
  State state_ = State::kNeedMore;
  Phase phase_ = Phase::kHead;
  FramingError error_;
  FramedRequest request_;
  bool started_ = false;
  bool wants_continue_ = false;
  bool have_request_line_ = false;
  size_t head_bytes_ = 0;
  size_t header_lines_ = 0;
  size_t body_left_ = 0;  // of Content-Length, or of the current chunk
};

}  // namespace mambo::http
