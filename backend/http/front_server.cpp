#include "http/front_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <stdexcept>

#include "util/thread.h"

namespace mambo::http {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Address(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &a->sin_addr, text, sizeof text);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &a->sin6_addr, text, sizeof text);
    port = ntohs(a->sin6_port);
  }
  ip = text;
}

const char* Reason(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 417:
      return "Expectation Failed";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Error";
  }
}

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// What the TLS engine has written to its outgoing memory buffer: handshake messages, alerts,
// sealed answers.
std::string TakeSealed(SSL* ssl) {
  std::string out;
  char buf[16 * 1024];
  int n;
  while ((n = BIO_read(SSL_get_wbio(ssl), buf, sizeof buf)) > 0)
    out.append(buf, static_cast<size_t>(n));
  return out;
}

// `plain` as TLS records. The engine writes into a memory buffer, which always takes all of it.
std::string Seal(SSL* ssl, std::string_view plain) {
  while (!plain.empty()) {
    const int n =
        SSL_write(ssl, plain.data(), static_cast<int>(std::min<size_t>(plain.size(), INT_MAX)));
    if (n <= 0) break;
    plain.remove_prefix(static_cast<size_t>(n));
  }
  return TakeSealed(ssl);
}

// One complete request, held in memory, as cpp-httplib's input; its answer goes to the socket
// (or, for the fuzz target, to a string). Writes are gathered and sent in as few calls as
// possible: httplib writes the status line, the headers and the body separately.
class RequestStream : public httplib::Stream {
 public:
  struct Peer {
    std::string remote_ip, local_ip;
    int remote_port = 0, local_port = 0;
  };
  RequestStream(std::string_view in, int fd, SSL* ssl, int64_t write_timeout_ms, const Peer& peer,
                std::string* sink)
      : in_(in),
        fd_(fd),
        ssl_(ssl),
        write_timeout_ms_(write_timeout_ms),
        peer_(peer),
        sink_(sink) {}

  bool is_readable() const override { return pos_ < in_.size(); }
  bool is_writable() const override {
    if (sink_ != nullptr) return true;
    pollfd p{fd_, POLLOUT, 0};
    return ::poll(&p, 1, static_cast<int>(write_timeout_ms_)) > 0 && !(p.revents & POLLERR);
  }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (failed_) return -1;
    out_.append(ptr, size);
    if (out_.size() >= 64 * 1024 && !Flush()) return -1;
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_.remote_ip;
    port = peer_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = peer_.local_ip;
    port = peer_.local_port;
  }
  // The connection's descriptor is not httplib's to use: the only thing 0.11.4 does with it
  // here is refuse (500) descriptors >= FD_SETSIZE, since Debian builds it for select().
  socket_t socket() const override { return INVALID_SOCKET; }

  // Sends what is gathered; false when the client is gone or too slow (write_timeout_ms).
  bool Flush() {
    if (sink_ != nullptr) {
      sink_->append(out_);
      out_.clear();
      return true;
    }
    if (ssl_ != nullptr) out_ = Seal(ssl_, out_);
    const int64_t deadline = NowMs() + write_timeout_ms_;
    size_t off = 0;
    while (off < out_.size()) {
      const ssize_t n = ::send(fd_, out_.data() + off, out_.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        const int64_t left = deadline - NowMs();
        pollfd p{fd_, POLLOUT, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      } else {
        break;
      }
    }
    const bool ok = off == out_.size();
    out_.clear();
    failed_ = !ok;
    return ok;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  int fd_;
  SSL* ssl_;
  int64_t write_timeout_ms_;
  const Peer& peer_;
  std::string* sink_;
  std::string out_;
  bool failed_ = false;
};

}  // namespace

struct FrontServer::Conn {
  int fd = -1;
  std::unique_ptr<SSL, SslFree> ssl;  // HTTPS only; used by the loop, or by the worker holding it
  RequestFramer framer;
  RequestStream::Peer peer;
  enum class State { kReading, kDispatched, kDraining } state = State::kReading;
  int64_t deadline = 0;
  size_t counted = 0;  // of framer.buffered(), in FrontServer::buffered_
  size_t served = 0;
  size_t drained = 0;       // bytes discarded while draining before close
  uint64_t idle_since = 0;  // FrontServer::idle_seq_ when it last became idle: lower is older
};

// httplib hands each accepted socket to its task queue; this one passes it straight to the
// front's event loop on the accepting thread, which never blocks on a client.
class FrontServer::InlineQueue : public httplib::TaskQueue {
 public:
  explicit InlineQueue(FrontServer* front) : front_(front) {}
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override { front_->Shutdown(); }

 private:
  FrontServer* front_;
};

std::shared_ptr<SSL_CTX> LoadServerTls(const std::string& cert_chain_file,
                                       const std::string& key_file, std::string* error) {
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  const auto fail = [&](const std::string& what) {
    char reason[256] = "unknown error";
    if (const unsigned long e = ERR_get_error(); e != 0)
      ERR_error_string_n(e, reason, sizeof reason);
    ERR_clear_error();
    if (error != nullptr) *error = what + " (" + reason + ")";
    return nullptr;
  };
  if (!ctx) return fail("cannot create a TLS context");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(
      ctx.get(), SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections give their 34 KiB of record buffers back.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_chain_file.c_str()) != 1) {
    return fail("cannot load the certificate chain " + cert_chain_file);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("cannot load the private key " + key_file);
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return fail("the private key " + key_file + " does not match the certificate");
  }
  return ctx;
}

FrontServer::FrontServer(FrontOptions options) : options_(std::move(options)) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) throw std::runtime_error("epoll/eventfd failed");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  new_task_queue = [this] { return new InlineQueue(this); };
  loop_ = std::thread([this] { LoopThread(); });
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers_.emplace_back([this] { WorkerThread(); });
  }
}

FrontServer::~FrontServer() {
  Shutdown();
  ::close(epoll_fd_);
  ::close(wake_fd_);
}

FrontServer::Stats FrontServer::stats() const {
  return Stats{open_.load(), refused_.load(), timed_out_.load()};
}

void FrontServer::WidenListenBacklog(int backlog) {
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, backlog);
}

void FrontServer::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

bool FrontServer::process_and_close_socket(socket_t sock) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      ::close(sock);
      return false;
    }
    adopted_.push_back(sock);
  }
  Wake();
  return true;
}

void FrontServer::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && loop_done_) return;
    stopping_ = true;
  }
  Wake();
  if (loop_.joinable()) loop_.join();
  {
    std::lock_guard lock(mu_);
    workers_stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
}

void FrontServer::LoopThread() {
  SetUpThread("http-front", 0);
  std::vector<epoll_event> events(256);
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 100);
    const int64_t now = NowMs();
    std::vector<int> adopted;
    std::vector<std::pair<Conn*, bool>> returned;
    bool stopping;
    {
      std::lock_guard lock(mu_);
      adopted.swap(adopted_);
      returned.swap(returned_);
      stopping = stopping_;
      dispatched_ -= returned.size();
    }
    // Connections workers handed back come first: a worker lists one before re-arming it, so
    // any event this wait returned for it finds it being read again.
    for (auto [c, close] : returned) {
      if (close || stopping) {
        Close(c->fd);
        continue;
      }
      c->state = Conn::State::kReading;
      c->idle_since = ++idle_seq_;
      c->deadline = now + options_.idle_timeout_ms;
      Advance(*c, now);  // a pipelined request may be buffered already
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<size_t>(i)].data.fd;
      if (fd == wake_fd_) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof count);
        continue;
      }
      auto it = conns_.find(fd);
      // A connection a worker holds is re-armed by that worker when it hands it back.
      if (it == conns_.end() || it->second->state == Conn::State::kDispatched) continue;
      OnReadable(*it->second, now);
      it = conns_.find(fd);
      if (it != conns_.end() && it->second->state != Conn::State::kDispatched) Arm(fd);
    }
    for (int fd : adopted) Adopt(fd, now);
    if (now - last_sweep_ >= 100) {
      Sweep(now);
      last_sweep_ = now;
    }
    if (stopping) {
      // Stop reading; requests being handled finish and their connections close on return.
      std::vector<int> idle;
      for (auto& [fd, c] : conns_) {
        if (c->state != Conn::State::kDispatched) idle.push_back(fd);
      }
      for (int fd : idle) Close(fd);
      std::lock_guard lock(mu_);
      if (dispatched_ == 0 && returned_.empty()) {
        loop_done_ = true;
        break;
      }
    }
  }
}

void FrontServer::Adopt(int fd, int64_t now) {
  if (conns_.size() >= options_.max_connections) {
    // Make room by closing the connection idle the longest; refuse when all are busy.
    Conn* oldest = nullptr;
    for (auto& [_, c] : conns_) {
      if (c->state == Conn::State::kReading && !c->framer.in_request() &&
          (oldest == nullptr || c->idle_since < oldest->idle_since)) {
        oldest = c.get();
      }
    }
    if (oldest == nullptr) {
      if (options_.tls) {  // no HTTP can be spoken before a handshake
        ::close(fd);
        refused_.fetch_add(1);
        return;
      }
      const std::string answer = ErrorAnswer(503, "Too many connections; try again shortly");
      [[maybe_unused]] ssize_t n =
          ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      refused_.fetch_add(1);
      return;
    }
    spdlog::debug("http front: at {} connections; closing the one idle longest ({}:{})",
                  conns_.size(), oldest->peer.remote_ip, oldest->peer.remote_port);
    Close(oldest->fd);
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  c->framer = RequestFramer(options_.limits);
  c->idle_since = ++idle_seq_;
  c->deadline = now + options_.idle_timeout_ms;
  if (options_.tls) {
    c->ssl.reset(SSL_new(options_.tls.get()));
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    if (!c->ssl || in == nullptr || out == nullptr) {
      BIO_free(in);
      BIO_free(out);
      ::close(fd);
      return;
    }
    SSL_set_bio(c->ssl.get(), in, out);
    SSL_set_accept_state(c->ssl.get());
    c->deadline = now + options_.request_timeout_ms;  // for the handshake
  }
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    Address(addr, c->peer.remote_ip, c->peer.remote_port);
  }
  len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    Address(addr, c->peer.local_ip, c->peer.local_port);
  }
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(fd);
    return;
  }
  conns_.emplace(fd, std::move(c));
  open_.fetch_add(1);
}

// Connections are registered one-shot: each event disarms the descriptor until the thread that
// holds the connection re-arms it (the loop after reading, the worker after answering), so a
// request costs no epoll registration calls of its own and no wake-up of the loop.
void FrontServer::Arm(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.fd = fd;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void FrontServer::Close(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  buffered_ -= it->second->counted;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  conns_.erase(it);
  open_.fetch_sub(1);
}

void FrontServer::CountBuffered(Conn& c) {
  const size_t now_held = c.framer.buffered();
  buffered_ = buffered_ - c.counted + now_held;
  c.counted = now_held;
}

void FrontServer::OnReadable(Conn& c, int64_t now) {
  char buf[16 * 1024];
  // A few reads per wake-up, so one fast sender cannot keep the loop from the others.
  for (int round = 0; round < 4; ++round) {
    const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
    if (n == 0) {
      Close(c.fd);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      Close(c.fd);
      return;
    }
    if (c.state == Conn::State::kDraining) {
      // The answer is written; what the client still sends is read and dropped so that closing
      // does not reset the connection before the client has read the answer.
      c.drained += static_cast<size_t>(n);
      if (c.drained > 1024 * 1024) {
        Close(c.fd);
        return;
      }
      continue;
    }
    if (!c.ssl) {
      if (!Received(c, std::string_view(buf, static_cast<size_t>(n)), now)) return;
      continue;
    }
    // HTTPS: the ciphertext goes into the TLS engine; what it decrypts goes to the framer, what
    // it answers (handshake, alerts) to the client.
    SSL* ssl = c.ssl.get();
    BIO_write(SSL_get_rbio(ssl), buf, static_cast<int>(n));
    std::string plain;
    char text[16 * 1024];
    bool end = false;
    for (;;) {
      const int r = SSL_read(ssl, text, sizeof text);
      if (r > 0) {
        plain.append(text, static_cast<size_t>(r));
        continue;
      }
      end = SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ;  // close_notify, or a TLS failure
      ERR_clear_error();
      break;
    }
    const std::string sealed = TakeSealed(ssl);
    if (!sealed.empty() &&
        ::send(c.fd, sealed.data(), sealed.size(), MSG_NOSIGNAL | MSG_DONTWAIT) !=
            static_cast<ssize_t>(sealed.size())) {
      end = true;  // a client that does not read its handshake is not one to wait for
    }
    if (end) {
      Close(c.fd);
      return;
    }
    if (!plain.empty() && !Received(c, plain, now)) return;
  }
}

// Plaintext from the client; false when the connection is no longer being read.
bool FrontServer::Received(Conn& c, std::string_view bytes, int64_t now) {
  if (buffered_ + bytes.size() > options_.max_buffered_bytes) {
    Answer(c, 503, "The server is reading too many requests at once; try again shortly");
    return false;
  }
  const bool was_in_request = c.framer.in_request();
  c.framer.Feed(bytes);
  if (!was_in_request) c.deadline = now + options_.request_timeout_ms;
  Advance(c, now);
  return c.state == Conn::State::kReading;
}

// Writes a short answer from the loop without waiting; false when it did not all fit.
bool FrontServer::SendNow(Conn& c, std::string_view plain) {
  std::string sealed;
  if (c.ssl) {
    sealed = Seal(c.ssl.get(), plain);
    plain = sealed;
  }
  return ::send(c.fd, plain.data(), plain.size(), MSG_NOSIGNAL | MSG_DONTWAIT) ==
         static_cast<ssize_t>(plain.size());
}

void FrontServer::Advance(Conn& c, int64_t now) {
  const RequestFramer::State s = c.framer.Advance();
  CountBuffered(c);
  if (s == RequestFramer::State::kError) {
    Answer(c, c.framer.error().status, c.framer.error().message);
    return;
  }
  if (s == RequestFramer::State::kComplete) {
    Dispatch(c);
    return;
  }
  if (c.framer.in_request() && c.deadline > now + options_.request_timeout_ms) {
    c.deadline = now + options_.request_timeout_ms;  // a pipelined request has begun
  }
  if (c.framer.wants_continue()) {
    SendNow(c, "HTTP/1.1 100 Continue\r\n\r\n");
    c.framer.ContinueSent();
  }
}

void FrontServer::Dispatch(Conn& c) {
  FramedRequest request = c.framer.Take();
  CountBuffered(c);
  c.state = Conn::State::kDispatched;
  ++c.served;
  Job job{&c, request.Serialize(),
          !request.keep_alive || c.served >= options_.max_requests_per_connection};
  {
    std::lock_guard lock(mu_);
    ++dispatched_;
    jobs_.push_back(std::move(job));
  }
  work_cv_.notify_one();
}

std::string FrontServer::ErrorAnswer(int status, const std::string& message) const {
  const std::string body =
      options_.error_body ? options_.error_body(status, message) : message + "\n";
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
  for (const auto& [k, v] : options_.answer_headers) out += k + ": " + v + "\r\n";
  out += "Content-Type: " + options_.error_content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         body;
  return out;
}

void FrontServer::Answer(Conn& c, int status, const std::string& message) {
  refused_.fetch_add(1);
  if (status == 408) timed_out_.fetch_add(1);
  // Small enough for the socket buffer; what does not fit is dropped with the connection.
  SendNow(c, ErrorAnswer(status, message));
  if (c.ssl && SSL_is_init_finished(c.ssl.get())) {
    SSL_shutdown(c.ssl.get());  // close_notify, so the client knows the answer is whole
    const std::string sealed = TakeSealed(c.ssl.get());
    [[maybe_unused]] ssize_t n =
        ::send(c.fd, sealed.data(), sealed.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  ::shutdown(c.fd, SHUT_WR);
  c.state = Conn::State::kDraining;
  c.framer = RequestFramer(options_.limits);
  CountBuffered(c);
  c.deadline = NowMs() + 2000;
}

void FrontServer::Sweep(int64_t now) {
  std::vector<int> expired;
  std::vector<Conn*> late;
  for (auto& [fd, c] : conns_) {
    if (c->state == Conn::State::kDispatched || c->deadline > now) continue;
    if (c->state == Conn::State::kReading && c->framer.in_request()) {
      late.push_back(c.get());
    } else {
      expired.push_back(fd);
    }
  }
  for (Conn* c : late) {
    Answer(*c, 408,
           "The request was not received in time (" +
               std::to_string(options_.request_timeout_ms / 1000) + " s)");
  }
  for (int fd : expired) Close(fd);
}

void FrontServer::WorkerThread() {
  SetUpThread("http-worker", 0);
  for (;;) {
    Job job;
    bool stopping;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return workers_stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      stopping = stopping_;
    }
    Conn& c = *job.conn;
    RequestStream stream(job.request, c.fd, c.ssl.get(), options_.write_timeout_ms, c.peer,
                         nullptr);
    bool closed = false;
    const bool ok = process_request(stream, job.close || stopping, closed, nullptr);
    const bool flushed = stream.Flush();
    const bool close = !ok || !flushed || closed || job.close || stopping;
    // The loop's bookkeeping for a kept connection can wait for its next wake-up (at most
    // 100 ms); a connection to close, or a pipelined request already read, cannot.
    const bool wake = close || c.framer.buffered() > 0;
    {
      std::lock_guard lock(mu_);
      returned_.emplace_back(&c, close);
    }
    if (!close) Arm(c.fd);
    if (wake) Wake();
  }
}

std::string FrontServer::HandleBytesForTest(std::string_view bytes) {
  RequestFramer framer(options_.limits);
  std::string out;
  RequestStream::Peer peer{"127.0.0.1", "127.0.0.1", 40000, 8080};
  framer.Feed(bytes);
  for (;;) {
    const RequestFramer::State s = framer.state();
    if (s == RequestFramer::State::kError) {
      out += ErrorAnswer(framer.error().status, framer.error().message);
      break;
    }
    if (s != RequestFramer::State::kComplete) break;
    const std::string request = framer.Take().Serialize();
    RequestStream stream(request, -1, nullptr, 0, peer, &out);
    bool closed = false;
    if (!process_request(stream, false, closed, nullptr) || closed) break;
    stream.Flush();
    framer.Advance();
  }
  return out;
}

}  // namespace mambo::http
