#pragma once
// POSTs one webhook to one https URL and reports exactly what happened, in the shape of a
// DeliveryAttempt: the receiver's status, or (when there is no usable answer) which stage failed
// and why, so an operator can tell "DNS", "refused", "bad certificate" and "too slow" apart.
//
// Safety rules it enforces (README, "Outgoing deliveries"): the host is resolved once by the
// AddressGuard and the connection goes to one of the checked addresses (libcurl's CURLOPT_RESOLVE,
// and every socket libcurl opens is checked again), while SNI, the Host header and certificate
// verification still use the URL's host name; redirects are never followed; every request has a
// connect timeout and a whole-request deadline; the response body is read only up to a hard cap.
//
// All requests run on one thread, an event loop over libcurl's multi interface, with kept-alive
// connections shared by all. The engine used to block one thread per request: on this VM a
// context switch costs more than the request's own work, and 32 threads waking per delivery
// were a third of webhookd's CPU (bench/delivery_bench.sh). Lookups that are not cached run on
// two resolver threads, so a slow DNS server delays only the requests for that name.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "delivery/address_guard.h"
#include "delivery/clock.h"
#include "mambo/models.h"

namespace mambo::delivery {

// The value of the first header named `name`, compared without regard to case (HTTP header
// names are case-insensitive).
std::optional<std::string> HeaderValue(const Headers& headers, std::string_view name);

// One line of a receiver's response head as libcurl hands it over (the status line or a header,
// with or without its CRLF), applied to `attempt`: a status line starts a new response (after a
// 100 Continue, only the last counts); a header is made valid UTF-8 and kept while the attempt
// holds fewer than kMaxStoredResponseHeaders headers and kMaxStoredResponseHeaderBytes bytes,
// else response_headers_truncated is set. `kept_bytes` carries the bytes kept between calls.
// The receiver's bytes become text here, once.
void AddResponseHeadLine(std::string_view line, DeliveryAttempt& attempt, size_t& kept_bytes);

struct HttpSenderOptions {
  int64_t connect_timeout_ms = 5000;   // TCP connect, and again the TLS handshake
  int64_t request_timeout_ms = 15000;  // whole request, from the first connect to the last byte
  // PEM file of extra trusted CAs, added to (not replacing) the system store: for receivers
  // behind a private CA. Empty for none.
  std::string extra_ca_file;
  std::string egress_interface;  // bind outgoing connections to this interface or IP; "" = any
  // Response bodies are read up to this many bytes; beyond it the sender stops reading, drops
  // the connection and reports kResponseTooLarge (see SendResult).
  size_t max_response_bytes = 1024 * 1024;
  size_t max_idle_total = 256;  // kept-alive connections, all receivers together
  int64_t max_idle_ms = 50000;  // close kept-alive connections idle longer than this
  std::string user_agent = "mambo-webhooks/0.1.0";  // serve sets the build version
  int nice = 0;  // the sender's threads run this many steps below the process (--delivery-nice)
};

struct SendResult {
  // Filled: started_at (from the Clock), duration_ms, http_status, cause, error,
  // request_headers (as sent, including Host and Content-Length), response_headers,
  // response_excerpt (first kResponseExcerptLimit bytes) and response_truncated. The caller
  // fills id, delivery_id and number.
  //
  // cause is kNone for 2xx, kHttpStatus for any other status (3xx included: redirects are not
  // followed, error names the Location), or the stage that failed. A body larger than
  // max_response_bytes is kResponseTooLarge even when the status was 2xx (http_status still
  // says what it was): we could not read the complete response, and a receiver that answers a
  // webhook with megabytes is misbehaving; deliveries are idempotent by webhook-id, so the retry
  // is safe for a receiver that did process it.
  DeliveryAttempt attempt;
  std::string remote_address;  // the checked IP actually connected to, if any
  bool reused_connection = false;

  bool succeeded() const { return attempt.cause == FailureCause::kNone; }
};

class HttpSender {
 public:
  // `guard` and `clock` must outlive the sender. Throws std::runtime_error when extra_ca_file
  // cannot be loaded (a startup configuration error). Ignores SIGPIPE process-wide: a receiver
  // that closes mid-write must become an error result, not kill webhookd.
  HttpSender(HttpSenderOptions options, const AddressGuard& guard, const Clock& clock);
  ~HttpSender();
  HttpSender(const HttpSender&) = delete;
  HttpSender& operator=(const HttpSender&) = delete;

  using Done = std::function<void(SendResult)>;

  // Starts the request and returns at once; `done` runs on the sender's thread when it is over
  // (it must not block: it holds up every other request) and may call PostAsync again.
  // Thread-safe. `url` must be an https URL (checked with mambo::UrlError); `headers` are sent
  // as given (the signature headers, typically), after Content-Type and User-Agent.
  void PostAsync(std::string_view url, Headers headers, std::string body, Done done,
                 std::string_view content_type = "application/json");

  // PostAsync and wait for the result. Not from inside a `done` callback.
  SendResult Post(std::string_view url, const Headers& headers, std::string_view body,
                  std::string_view content_type = "application/json");

  // Connections open and not carrying a request (for tests and metrics).
  size_t idle_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mambo::delivery
