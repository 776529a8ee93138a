// RequestFramer alone: every limit and refusal, every framing, byte-at-a-time input and
// pipelining. The service tests (hardening_test.cpp) drive the same code over sockets.
#include "http/request_framer.h"

#include <gtest/gtest.h>

#include <string>

namespace mambo::http {
namespace {

using State = RequestFramer::State;

FramerLimits Small() {
  FramerLimits l;
  l.max_body_bytes = 1024;
  l.max_head_bytes = 512;
  l.max_header_lines = 8;
  l.max_target_bytes = 128;
  return l;
}

// Feeds `bytes` in one piece and, separately, one byte at a time: both must agree.
State FeedBothWays(const std::string& bytes, FramerLimits limits, FramedRequest* out = nullptr,
                   int* status = nullptr) {
  RequestFramer whole(limits);
  const State a = whole.Feed(bytes);
  RequestFramer bytewise(limits);
  State b = State::kNeedMore;
  for (char c : bytes) {
    b = bytewise.Feed(std::string_view(&c, 1));
    if (b != State::kNeedMore) break;
  }
  EXPECT_EQ(a, b) << bytes;
  if (a == State::kError) {
    EXPECT_EQ(whole.error().status, bytewise.error().status) << bytes;
    if (status) *status = whole.error().status;
  }
  if (a == State::kComplete && out) *out = whole.Take();
  return a;
}

int Refusal(const std::string& bytes, FramerLimits limits = Small()) {
  int status = 0;
  EXPECT_EQ(FeedBothWays(bytes, limits, nullptr, &status), State::kError) << bytes;
  return status;
}

TEST(RequestFramer, ReadsAGetAndKeepsTheHeaders) {
  FramedRequest r;
  ASSERT_EQ(FeedBothWays("GET /api/v1/webhooks?limit=5 HTTP/1.1\r\nHost: x\r\nAuthorization: "
                         "Bearer t\r\n\r\n",
                         Small(), &r),
            State::kComplete);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/api/v1/webhooks?limit=5");
  EXPECT_TRUE(r.keep_alive);
  ASSERT_EQ(r.headers.size(), 2u);
  EXPECT_EQ(r.headers[1].second, "Bearer t");
  EXPECT_EQ(r.Serialize(),
            "GET /api/v1/webhooks?limit=5 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            "t\r\nContent-Length: 0\r\n\r\n");
}

TEST(RequestFramer, ContentLengthBodyIsReadExactly) {
  FramedRequest r;
  ASSERT_EQ(
      FeedBothWays("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", Small(), &r),
      State::kComplete);
  EXPECT_EQ(r.body, "hello");
}

TEST(RequestFramer, ChunkedBodyIsDecodedAndRewrittenWithALength) {
  FramedRequest r;
  ASSERT_EQ(FeedBothWays("POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
                         Small(), &r),
            State::kComplete);
  EXPECT_EQ(r.body, "hello world");
  const std::string wire = r.Serialize();
  EXPECT_EQ(wire.find("Transfer-Encoding"), std::string::npos) << wire;
  EXPECT_NE(wire.find("Content-Length: 11\r\n\r\nhello world"), std::string::npos) << wire;
  EXPECT_EQ(wire.find("X-Trailer"), std::string::npos) << "trailers are dropped";
}

TEST(RequestFramer, ARequestWithoutLengthHasNoBody) {
  RequestFramer f(Small());
  ASSERT_EQ(f.Feed("POST /e HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE"), State::kComplete);
  EXPECT_EQ(f.Take().body, "");
  // What follows is the next request, and it is not one.
  EXPECT_EQ(f.Advance(), State::kNeedMore);
  EXPECT_EQ(f.Feed("\r\n"), State::kError);
  EXPECT_EQ(f.error().status, 400);
}

TEST(RequestFramer, PipelinedRequestsComeOneAtATime) {
  RequestFramer f(Small());
  ASSERT_EQ(f.Feed("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c"),
            State::kComplete);
  EXPECT_EQ(f.Take().target, "/a");
  ASSERT_EQ(f.Advance(), State::kComplete);
  EXPECT_EQ(f.Take().target, "/b");
  EXPECT_EQ(f.Advance(), State::kNeedMore);
  EXPECT_TRUE(f.in_request());
  ASSERT_EQ(f.Feed(" HTTP/1.1\r\nHost: x\r\n\r\n"), State::kComplete);
  EXPECT_EQ(f.Take().target, "/c");
}

TEST(RequestFramer, BodiesOverTheLimitAreRefusedBeforeTheyAreRead) {
  EXPECT_EQ(Refusal("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n"), 413);
  // A chunk that would pass the limit is refused at its size line, its data never buffered.
  RequestFramer f(Small());
  EXPECT_EQ(f.Feed("POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "200\r\n" +
                   std::string(512, 'a') + "\r\n201\r\n"),
            State::kError);
  EXPECT_EQ(f.error().status, 413);
  EXPECT_EQ(Refusal("POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "fffffffffffffff\r\n"),
            413);
  EXPECT_EQ(Refusal("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n"),
            400);
}

TEST(RequestFramer, HeadLimitsHoldWhateverTheFraming) {
  std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 9; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  EXPECT_EQ(Refusal(many + "\r\n"), 431);
  // An endless head is refused once it passes the limit, without waiting for its end.
  RequestFramer f(Small());
  EXPECT_EQ(f.Feed("GET / HTTP/1.1\r\nX-Long: " + std::string(600, 'a')), State::kError);
  EXPECT_EQ(f.error().status, 431);
  EXPECT_EQ(Refusal("GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"), 414);
  RequestFramer g(Small());
  EXPECT_EQ(g.Feed("GET /" + std::string(300, 'a')), State::kError) << "no line end needed";
  EXPECT_EQ(g.error().status, 414);
  // Trailers count against the head's limits too.
  std::string trailers = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  for (int i = 0; i < 9; ++i) trailers += "T" + std::to_string(i) + ": y\r\n";
  EXPECT_EQ(Refusal(trailers + "\r\n"), 431);
}

TEST(RequestFramer, HostileBytesInTheHeadAreRefused) {
  EXPECT_EQ(Refusal("GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\nHost: x\r\nX-A: \xff\xfe\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01z\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rz\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET / HTTP/1.1\nHost: x\n\n"), 400) << "bare LF";
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("G(T / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET / HTTP/2.0\r\nHost: x\r\n\r\n"), 505);
  EXPECT_EQ(Refusal("GET / FOO\r\nHost: x\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
  // UTF-8 in a header value is text, and kept.
  FramedRequest r;
  ASSERT_EQ(FeedBothWays("GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xC3\xA9\r\n\r\n", Small(), &r),
            State::kComplete);
  EXPECT_EQ(r.headers[1].second, "caf\xC3\xA9");
}

TEST(RequestFramer, AmbiguousFramingIsRefused) {
  EXPECT_EQ(Refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
                    "chunked\r\n\r\n"),
            400);
  EXPECT_EQ(Refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            400);
  EXPECT_EQ(Refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(Refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"),
            501);
  EXPECT_EQ(Refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\n\r\n"), 400) << "HTTP/1.1 needs Host";
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(Refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 400);
  EXPECT_EQ(Refusal("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "2\r\nabXY"),
            400);
  EXPECT_EQ(Refusal("GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n"), 417);
}

TEST(RequestFramer, ConnectionOptionsAndExpectContinue) {
  FramedRequest r;
  ASSERT_EQ(FeedBothWays("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n",
                         Small(), &r),
            State::kComplete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(FeedBothWays("GET / HTTP/1.0\r\n\r\n", Small(), &r), State::kComplete);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(FeedBothWays("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", Small(), &r),
            State::kComplete);
  EXPECT_TRUE(r.keep_alive);

  RequestFramer f(Small());
  ASSERT_EQ(
      f.Feed("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
      State::kNeedMore);
  EXPECT_TRUE(f.wants_continue());
  f.ContinueSent();
  ASSERT_EQ(f.Feed("ok"), State::kComplete);
  const FramedRequest e = f.Take();
  EXPECT_EQ(e.body, "ok");
  EXPECT_EQ(e.Serialize().find("Expect"), std::string::npos);
}

TEST(RequestFramer, LeadingEmptyLinesAreToleratedButNotForever) {
  EXPECT_EQ(FeedBothWays("\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", Small()), State::kComplete);
  EXPECT_EQ(Refusal(std::string(100, '\r') + "\n"), 400);
  EXPECT_EQ(Refusal("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"), 400);
}

TEST(RequestFramer, BufferedCountsWhatIsHeld) {
  RequestFramer f(Small());
  EXPECT_EQ(f.buffered(), 0u);
  f.Feed("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(60, 'a'));
  EXPECT_GE(f.buffered(), 60u);
  EXPECT_LE(f.buffered(), 200u);
  f.Feed(std::string(40, 'b'));
  f.Take();
  EXPECT_EQ(f.buffered(), 0u);
}

}  // namespace
}  // namespace mambo::http
