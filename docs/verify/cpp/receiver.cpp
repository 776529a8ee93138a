// A complete webhook receiver for mambo EMM webhooks in C++: HTTPS with cpp-httplib, the
// Standard Webhooks signature checked with OpenSSL's HMAC-SHA256 over the raw body, a 5-minute
// timestamp tolerance, each event processed once (dedupe on webhook-id).
//
//   apt install libcpp-httplib-dev libssl-dev
//   g++ -std=c++17 receiver.cpp $(pkg-config --cflags --libs cpp-httplib) -lssl -lcrypto
//   WEBHOOK_SECRET=whsec_... TLS_CERT=cert.pem TLS_KEY=key.pem PORT=8443 ./a.out
#include <httplib.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

namespace {

std::string Base64(const unsigned char* data, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Unbase64(const std::string& text) {
  std::string out(3 * text.size() / 4 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  size_t size = static_cast<size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;
  out.resize(size);
  return out;
}

// The key is the base64 part after "whsec_".
bool Verified(const std::string& key, const httplib::Request& req) {
  const std::string id = req.get_header_value("webhook-id");
  const std::string timestamp = req.get_header_value("webhook-timestamp");
  if (id.empty() || timestamp.empty() ||
      timestamp.find_first_not_of("0123456789") != std::string::npos || timestamp.size() > 12) {
    return false;
  }
  const long long sent = std::stoll(timestamp);
  if (std::llabs(static_cast<long long>(std::time(nullptr)) - sent) > 5 * 60) return false;
  const std::string signed_text = id + "." + timestamp + "." + req.body;  // the raw body
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_text.data()), signed_text.size(), mac,
       &mac_size);
  const std::string expected = "v1," + Base64(mac, mac_size);
  // Several signatures, space-separated, while a secret is being rotated: any one may match.
  std::istringstream candidates(req.get_header_value("webhook-signature"));
  for (std::string candidate; candidates >> candidate;) {
    if (candidate.size() == expected.size() &&
        CRYPTO_memcmp(candidate.data(), expected.data(), expected.size()) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

int main() {
  const char* secret = std::getenv("WEBHOOK_SECRET");
  const char* cert = std::getenv("TLS_CERT");
  const char* tls_key = std::getenv("TLS_KEY");
  if (!secret || !cert || !tls_key || std::string(secret).rfind("whsec_", 0) != 0) {
    std::fprintf(stderr, "set WEBHOOK_SECRET (whsec_...), TLS_CERT and TLS_KEY\n");
    return 2;
  }
  const std::string key = Unbase64(std::string(secret).substr(6));
  std::set<std::string> seen;  // use your database in production: ids must survive a restart
  std::mutex mu;

  httplib::SSLServer server(cert, tls_key);
  server.Post(".*", [&](const httplib::Request& req, httplib::Response& res) {
    if (!Verified(key, req)) {
      std::printf("rejected\n");
      std::fflush(stdout);
      res.status = 401;
      return;
    }
    const std::string id = req.get_header_value("webhook-id");
    std::lock_guard lock(mu);
    if (seen.insert(id).second) {
      std::printf("verified %s\n", id.c_str());  // process the event here
      std::fflush(stdout);
    }
    res.status = 204;  // answer fast; do slow work after
  });
  const char* port = std::getenv("PORT");
  const int bound = port && std::atoi(port) > 0
                        ? (server.bind_to_port("127.0.0.1", std::atoi(port)) ? std::atoi(port) : -1)
                        : server.bind_to_any_port("127.0.0.1");
  if (bound <= 0) {
    std::fprintf(stderr, "cannot listen\n");
    return 1;
  }
  std::printf("listening on %d\n", bound);
  std::fflush(stdout);
  server.listen_after_bind();
}
