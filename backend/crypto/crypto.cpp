#include "crypto/crypto.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace mambo::crypto {

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    std::abort();  // no safe fallback for a broken RNG
  }
  return out;
}

namespace {

// Ids take their random bits from a per-thread buffer filled from the same DRBG 4 KiB at a time:
// every RAND_bytes call takes the DRBG's lock and checks for a fork, and at one call per id that
// was 5 % of the store writer's time while ingesting (six ids per event). webhookd never forks.
void IdRandomBits(unsigned char* out, size_t n) {
  struct Pool {
    unsigned char bytes[4096];
    size_t used = sizeof(bytes);
  };
  thread_local Pool pool;
  if (pool.used + n > sizeof(pool.bytes)) {
    if (RAND_bytes(pool.bytes, sizeof(pool.bytes)) != 1) std::abort();
    pool.used = 0;
  }
  std::memcpy(out, pool.bytes + pool.used, n);
  std::memset(pool.bytes + pool.used, 0, n);  // handed out once
  pool.used += n;
}

}  // namespace

std::string NewId(std::string_view prefix, int64_t unix_ms) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  // 128 bits: 48 time bits then 80 random bits, emitted 5 bits at a time (26 chars = 130 bits).
  unsigned char bits[16];
  const auto t = static_cast<uint64_t>(unix_ms);
  for (int i = 0; i < 6; ++i) bits[i] = static_cast<unsigned char>(t >> (40 - 8 * i));
  IdRandomBits(bits + 6, 10);
  std::string out(prefix);
  out.push_back('_');
  int bit = -2;  // the first char carries only 3 bits (130 - 128)
  for (int c = 0; c < 26; ++c, bit += 5) {
    unsigned v = 0;
    for (int k = 0; k < 5; ++k) {
      const int b = bit + k;
      v <<= 1;
      if (b >= 0) v |= (bits[b / 8] >> (7 - b % 8)) & 1u;
    }
    out.push_back(kAlphabet[v]);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out = Base64Encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() > 1 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::string Sha256(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string GenerateWebhookSecret() {
  return "whsec_" + Base64Encode(RandomBytes(32));
}

SecretBox::SecretBox(std::string key) : key_(std::move(key)) {
  if (key_.size() != 32) throw std::invalid_argument("main key must be 32 bytes");
}

namespace {
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;
constexpr size_t kNonce = 12, kTag = 16;
constexpr std::string_view kVersion = "v1";
}  // namespace

std::string SecretBox::Seal(std::string_view plaintext, std::string_view aad) const {
  const std::string nonce = RandomBytes(kNonce);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  auto* k = reinterpret_cast<const unsigned char*>(key_.data());
  auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  std::string out;
  out.reserve(kVersion.size() + kNonce + plaintext.size() + kTag);
  out.append(kVersion).append(nonce);
  std::string ct(plaintext.size(), '\0');
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k, iv) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(ct.data()), &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1) {
    throw std::runtime_error("AES-GCM encryption failed");
  }
  int fin = 0;
  unsigned char tag[kTag];
  if (EVP_EncryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(ct.data()) + len, &fin) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, tag) != 1) {
    throw std::runtime_error("AES-GCM encryption failed");
  }
  out.append(ct).append(reinterpret_cast<char*>(tag), kTag);
  return out;
}

std::optional<std::string> SecretBox::Open(std::string_view sealed, std::string_view aad) const {
  if (sealed.size() < kVersion.size() + kNonce + kTag || sealed.substr(0, 2) != kVersion) {
    return std::nullopt;
  }
  const auto nonce = sealed.substr(2, kNonce);
  const auto ct = sealed.substr(2 + kNonce, sealed.size() - 2 - kNonce - kTag);
  std::string tag(sealed.substr(sealed.size() - kTag));
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string pt(ct.size(), '\0');
  int len = 0, fin = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr,
                         reinterpret_cast<const unsigned char*>(key_.data()),
                         reinterpret_cast<const unsigned char*>(nonce.data())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(pt.data()), &len,
                        reinterpret_cast<const unsigned char*>(ct.data()),
                        static_cast<int>(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(pt.data()) + len, &fin) !=
          1) {
    return std::nullopt;
  }
  return pt;
}

std::optional<std::string> LoadOrCreateMainKey(const std::string& path, bool create,
                                               std::string& key_out) {
  std::ifstream in(path, std::ios::binary);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    std::string raw = ss.str();
    while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r')) raw.pop_back();
    if (raw.size() == 32) {
      key_out = raw;
      return std::nullopt;
    }
    if (raw.size() == 64) {
      std::string key;
      for (size_t i = 0; i < 64; i += 2) {
        char* end = nullptr;
        const std::string byte = raw.substr(i, 2);
        const long v = std::strtol(byte.c_str(), &end, 16);
        if (end != byte.c_str() + 2) return "main key file " + path + " is not 64 hex characters";
        key.push_back(static_cast<char>(v));
      }
      key_out = key;
      return std::nullopt;
    }
    return "main key file " + path + " must hold 32 raw bytes or 64 hex characters";
  }
  if (!create) return "cannot read main key file " + path + ": " + std::strerror(errno);
  const std::string key = RandomBytes(32);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) return "cannot create main key file " + path + ": " + std::strerror(errno);
  const std::string hex = Hex(key) + "\n";
  const bool ok =
      ::write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return "cannot write main key file " + path;
  key_out = key;
  return std::nullopt;
}

}  // namespace mambo::crypto
