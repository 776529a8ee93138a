#include "delivery/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <stdexcept>

#include "crypto/crypto.h"
#include "mambo/validation.h"

namespace mambo::delivery {
namespace {

std::string SignedContent(std::string_view msg_id, int64_t unix_seconds, std::string_view body) {
  std::string content;
  content.reserve(msg_id.size() + body.size() + 24);
  content.append(msg_id).append(".").append(std::to_string(unix_seconds)).append(".");
  content.append(body);
  return content;
}

// Strict decimal parse of the timestamp header: a sign or spaces would let two different header
// texts sign the same content, so only digits are accepted.
bool ParseSeconds(std::string_view text, int64_t& out) {
  if (text.empty() || text.size() > 18) return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

}  // namespace

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  // An empty key is legal for HMAC, but OpenSSL treats a null key pointer as "reuse the last key":
  // always pass a valid pointer.
  static const unsigned char kEmpty = 0;
  const void* key_ptr = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
           &out_len) == nullptr) {
    // Only on allocation failure or a broken OpenSSL: nothing sensible to send unsigned.
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

std::string Sign(std::string_view key_bytes, std::string_view msg_id, int64_t unix_seconds,
                 std::string_view body) {
  return "v1," +
         crypto::Base64Encode(HmacSha256(key_bytes, SignedContent(msg_id, unix_seconds, body)));
}

std::string SignatureHeader(const std::vector<std::string>& secrets, std::string_view msg_id,
                            int64_t unix_seconds, std::string_view body) {
  // The signed content is the same for every secret: build it once.
  const std::string content = SignedContent(msg_id, unix_seconds, body);
  std::string header;
  for (const auto& secret : secrets) {
    if (!header.empty()) header += ' ';
    header += "v1," + crypto::Base64Encode(HmacSha256(SecretKey(secret), content));
  }
  return header;
}

Headers SignedHeaders(const std::vector<std::string>& secrets, std::string_view msg_id,
                      int64_t unix_seconds, std::string_view body) {
  return {
      {"webhook-id", std::string(msg_id)},
      {"webhook-timestamp", std::to_string(unix_seconds)},
      {"webhook-signature", SignatureHeader(secrets, msg_id, unix_seconds, body)},
  };
}

VerifyResult Verify(std::string_view secret, std::string_view msg_id, std::string_view timestamp,
                    std::string_view body, std::string_view signature_header, int64_t now_seconds,
                    int64_t tolerance_seconds) {
  int64_t ts = 0;
  if (!ParseSeconds(timestamp, ts)) return {false, "invalid webhook-timestamp"};
  if (ts < now_seconds - tolerance_seconds) return {false, "message timestamp too old"};
  if (ts > now_seconds + tolerance_seconds) return {false, "message timestamp too new"};

  const std::string expected = HmacSha256(SecretKey(secret), SignedContent(msg_id, ts, body));
  // Compare every candidate (no early exit on the first match is needed: which entry matched is
  // not secret, only the expected bytes are).
  bool matched = false;
  size_t pos = 0;
  while (pos < signature_header.size()) {
    size_t end = signature_header.find(' ', pos);
    if (end == std::string_view::npos) end = signature_header.size();
    std::string_view entry = signature_header.substr(pos, end - pos);
    pos = end + 1;
    if (entry.substr(0, 3) != "v1,") continue;  // other versions (v1a, ...) are not ours
    auto decoded = DecodeBase64(entry.substr(3));
    if (!decoded || decoded->size() != expected.size()) continue;
    if (CRYPTO_memcmp(decoded->data(), expected.data(), expected.size()) == 0) matched = true;
  }
  if (!matched) return {false, "no matching signature found"};
  return {true, {}};
}

}  // namespace mambo::delivery
