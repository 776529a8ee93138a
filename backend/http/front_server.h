#pragma once
// webhookd's HTTP server: cpp-httplib's routing and handlers behind a front that reads requests
// on one event loop.
//
// cpp-httplib gives each connection a thread from a fixed pool for as long as the connection is
// open, and reads requests with only a per-read timeout: as many idle or trickling connections as
// there are threads stopped the API and /healthz, and chunked bodies and header lines were read
// without bound. Here cpp-httplib still parses, routes and answers, but never reads a socket:
//
//   accept (httplib's listen thread) -> event loop (one thread, epoll, every connection)
//     reads each request with RequestFramer under its limits and a whole-request deadline
//   -> worker pool (`workers` threads) runs httplib's process_request on the complete request,
//     held in memory, and writes the answer -> the connection goes back to the loop.
//
// A connection costs a descriptor and its buffer, not a thread, so thousands of slow or idle
// clients leave the workers to the requests that have arrived. Bounds: `max_connections` (the
// oldest idle connection makes room for a new one; when none is idle a new one is refused with
// 503), `request_timeout_ms` from a request's first byte to its last (408, then closed),
// `idle_timeout_ms` between requests, `max_buffered_bytes` for all requests being read together
// (503 beyond), and the framer's head, header-count and body limits for every framing. Errors the
// front answers itself close the connection after a short drain, so the client reads the answer
// instead of a reset.
//
// HTTPS (`tls`): the same loop runs each connection's TLS engine on memory buffers: ciphertext
// read from the socket goes in, the plaintext it yields goes to the framer, and a worker seals
// its answer before writing it. So HTTPS connections get every bound above; the handshake must
// end within `request_timeout_ms` of the connection, and runs on the loop thread (about a
// millisecond of CPU each with an RSA-2048 or P-256 key).
//
// Not bounded here: a worker writing a large answer (a console file) to a client that does not
// read blocks up to `write_timeout_ms`. In production, webhookd stands behind a proxy that
// buffers (README).

#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "http/request_framer.h"

namespace mambo::http {

// A server TLS context from PEM files (the certificate chain, leaf first, and its key): TLS 1.2
// and later, no renegotiation, no compression. Null, with `error` set, when they do not load.
std::shared_ptr<SSL_CTX> LoadServerTls(const std::string& cert_chain_file,
                                       const std::string& key_file, std::string* error);

struct FrontOptions {
  FramerLimits limits;
  int workers = 64;
  size_t max_connections = 10000;
  int64_t request_timeout_ms = 20000;    // a request's first byte to its last
  int64_t idle_timeout_ms = 60000;       // a kept-alive connection with no request in progress
  int64_t write_timeout_ms = 10000;      // each answer, written by a worker
  size_t max_buffered_bytes = 64 << 20;  // requests being read, all connections together
  size_t max_requests_per_connection = 10000;
  // Headers on every answer the front writes itself (httplib's answers get them through the
  // post-routing handler).
  httplib::Headers answer_headers;
  // The body and content type of an error the front answers itself (webhookd's JSON error).
  std::function<std::string(int status, const std::string& message)> error_body;
  std::string error_content_type = "application/json";
  // Set: every connection speaks TLS (HTTPS) with this context.
  std::shared_ptr<SSL_CTX> tls;
};

class FrontServer : public httplib::Server {
 public:
  explicit FrontServer(FrontOptions options);
  ~FrontServer() override;

  struct Stats {
    int64_t connections = 0;  // open now
    int64_t refused = 0;      // requests answered with an error by the front, since start
    int64_t timed_out = 0;    // of those, 408s
  };
  Stats stats() const;

  // httplib listens with a backlog of 5 (compiled into Debian's library): a burst of new
  // connections beyond it waits for SYN retransmits, 1 s and more. Call after binding; Linux
  // takes a second listen() on the socket as the new backlog.
  void WidenListenBacklog(int backlog = 4096);

  // Runs one request given as raw bytes through the same framer and httplib routing, without a
  // socket: for the fuzz target. Returns what would have been written to the client.
  std::string HandleBytesForTest(std::string_view bytes);

 private:
  struct Conn;
  struct Job {
    Conn* conn;
    std::string request;
    bool close;
  };
  class InlineQueue;

  bool process_and_close_socket(socket_t sock) override;
  void Shutdown();
  void LoopThread();
  void WorkerThread();
  void Adopt(int fd, int64_t now);
  void OnReadable(Conn& c, int64_t now);
  bool Received(Conn& c, std::string_view bytes, int64_t now);
  bool SendNow(Conn& c, std::string_view plain);
  void Advance(Conn& c, int64_t now);
  void Dispatch(Conn& c);
  void Answer(Conn& c, int status, const std::string& message);
  void Arm(int fd);
  void Close(int fd);
  void Sweep(int64_t now);
  void Wake();
  void CountBuffered(Conn& c);
  std::string ErrorAnswer(int status, const std::string& message) const;

  FrontOptions options_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread loop_;
  std::vector<std::thread> workers_;

  // Loop thread only.
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  size_t buffered_ = 0;
  int64_t last_sweep_ = 0;
  uint64_t idle_seq_ = 0;

  // Handed between threads.
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::vector<int> adopted_;
  std::vector<std::pair<Conn*, bool>> returned_;  // (connection, close it)
  std::deque<Job> jobs_;
  size_t dispatched_ = 0;
  bool stopping_ = false;
  bool loop_done_ = false;
  bool workers_stop_ = false;

  std::atomic<int64_t> open_{0}, refused_{0}, timed_out_{0};
};

}  // namespace mambo::http
