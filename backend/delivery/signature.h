#pragma once
// Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"; the test
// vectors in tests/backend/delivery/signature_test.cpp): the sender signs
// "<webhook-id>.<webhook-timestamp>.<raw body>" with HMAC-SHA256 and sends "v1,<base64>"; during a
// secret rotation it sends one signature per active secret, space-separated, so a receiver that
// still has the old secret (or already has the new one) verifies either way.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mambo/models.h"

namespace mambo::delivery {

inline constexpr int64_t kDefaultToleranceSeconds = 300;  // the spec's "5 minutes"

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// "v1,<base64(HMAC-SHA256(key_bytes, msg_id + "." + unix_seconds + "." + body))>".
// `key_bytes` is the decoded key (mambo::SecretKey(secret)), not the "whsec_..." text.
std::string Sign(std::string_view key_bytes, std::string_view msg_id, int64_t unix_seconds,
                 std::string_view body);

// The webhook-signature header value: one "v1,..." per secret (current first, then any still in
// their rotation grace period), space-separated. Secrets are as stored ("whsec_..." or plain);
// their keys come from mambo::SecretKey so the API and the sender agree on the bytes.
std::string SignatureHeader(const std::vector<std::string>& secrets, std::string_view msg_id,
                            int64_t unix_seconds, std::string_view body);

// webhook-id, webhook-timestamp and webhook-signature, ready to send.
Headers SignedHeaders(const std::vector<std::string>& secrets, std::string_view msg_id,
                      int64_t unix_seconds, std::string_view body);

struct VerifyResult {
  bool ok = false;
  std::string error;  // why verification failed; empty when ok
};

// Receiver side, as the reference libraries do it: `timestamp` is the webhook-timestamp header
// text (decimal unix seconds), `signature_header` the webhook-signature header. Fails when the
// timestamp is more than `tolerance_seconds` away from `now_seconds` (either direction: replay
// and clock-skew protection) or when no "v1," entry matches. Signatures are compared with
// CRYPTO_memcmp so timing does not reveal how many bytes matched. `body` must be the raw bytes
// received, never re-serialised JSON.
VerifyResult Verify(std::string_view secret, std::string_view msg_id, std::string_view timestamp,
                    std::string_view body, std::string_view signature_header, int64_t now_seconds,
                    int64_t tolerance_seconds = kDefaultToleranceSeconds);

}  // namespace mambo::delivery
