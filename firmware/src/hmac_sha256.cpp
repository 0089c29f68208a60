#include "hmac_sha256.h"

#include <string.h>

namespace {
const uint8_t kInnerPad = 0x36;
const uint8_t kOuterPad = 0x5c;

void feed_padded(Sha256& sha, const uint8_t* key, uint8_t key_len, uint8_t pad) {
  for (uint8_t i = 0; i < Sha256::kBlockSize; ++i) {
    const uint8_t b = (i < key_len ? key[i] : 0) ^ pad;
    sha.update(&b, 1);
  }
}
}  // namespace

void HmacSha256::begin(const uint8_t* key, uint8_t key_len) {
  key_ = key;
  key_len_ = key_len;
  inner_.reset();
  feed_padded(inner_, key_, key_len_, kInnerPad);
}

// The outer hash reuses the inner one's state (one Sha256 on the stack, not two).
void HmacSha256::finish(uint8_t mac[Sha256::kDigestSize]) {
  uint8_t inner_digest[Sha256::kDigestSize];
  inner_.finish(inner_digest);
  feed_padded(inner_, key_, key_len_, kOuterPad);
  inner_.update(inner_digest, sizeof inner_digest);
  inner_.finish(mac);
}

bool equal_constant_time(const uint8_t* a, const uint8_t* b, uint8_t n) {
  uint8_t diff = 0;
  for (uint8_t i = 0; i < n; ++i) diff |= a[i] ^ b[i];
  return diff == 0;
}
