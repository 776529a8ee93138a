#pragma once
// OpenSSL-backed primitives webhookd needs outside signing: randomness, ids, token hashes and
// authenticated encryption of secrets at rest.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mambo::crypto {

// Cryptographically secure random bytes (OpenSSL RAND_bytes); aborts if the RNG fails, since
// nothing webhookd makes from randomness (ids, tokens, secrets, nonces) is safe without it.
std::string RandomBytes(size_t n);

// Sortable, unguessable id: prefix + '_' + 26 Crockford base32 chars (48-bit ms time + 80 random
// bits, the ULID layout). Ids contain no '.', so they are valid Standard Webhooks message ids.
std::string NewId(std::string_view prefix, int64_t unix_ms);

std::string Base64Encode(std::string_view bytes);
std::string Base64UrlEncode(std::string_view bytes);  // no padding
std::optional<std::string> Base64Decode(std::string_view text);
std::string Sha256(std::string_view data);
std::string Hex(std::string_view bytes);

// A new Standard Webhooks secret: "whsec_" + base64 of 32 random bytes.
std::string GenerateWebhookSecret();

// AES-256-GCM with a 32-byte main key. Sealed format: 'v1' (2 bytes) | nonce (12) | ciphertext |
// tag (16). `aad` binds a ciphertext to its row (the webhook id), so a sealed secret copied onto
// another row does not decrypt.
class SecretBox {
 public:
  explicit SecretBox(std::string key);  // key must be 32 bytes
  std::string Seal(std::string_view plaintext, std::string_view aad) const;
  std::optional<std::string> Open(std::string_view sealed, std::string_view aad) const;

 private:
  std::string key_;
};

// Loads the main key from `path` (32 raw bytes or 64 hex chars), or creates it with mode 0600
// when `create` is set and the file does not exist. Returns an error message on failure.
std::optional<std::string> LoadOrCreateMainKey(const std::string& path, bool create,
                                               std::string& key_out);

}  // namespace mambo::crypto
