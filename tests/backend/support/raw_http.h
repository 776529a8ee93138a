#pragma once
// A client socket that sends exactly the bytes a test gives it (hostile requests that no HTTP
// library would write) and reads answers with deadlines, never sleeps.

#include <chrono>
#include <string>
#include <string_view>

namespace mambo::testing {

class RawConnection {
 public:
  explicit RawConnection(int port);  // connects to 127.0.0.1:port
  ~RawConnection();
  RawConnection(RawConnection&& other) noexcept;
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  int local_port() const;  // this end's port, as the server's logs name the client
  // False when the peer has closed or reset the connection.
  bool Send(std::string_view bytes);
  // True when an answer (or the peer's close) is waiting to be read.
  bool Readable(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;
  // One whole answer (status line, headers, Content-Length body), or "" if none came before
  // `timeout` or the connection closed first.
  std::string ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True when the peer closes the connection (read returns 0 or a reset) within `timeout`.
  bool ClosedByPeer(std::chrono::milliseconds timeout = std::chrono::seconds(10));

 private:
  int fd_ = -1;
  std::string pending_;
};

// The status code of an answer ReadResponse returned; 0 if there is none.
int StatusOf(const std::string& response);
// The body of such an answer, and one header's value ("" when absent; names compared without
// regard to case).
std::string BodyOf(const std::string& response);
std::string HeaderOf(const std::string& response, std::string_view name);

}  // namespace mambo::testing
