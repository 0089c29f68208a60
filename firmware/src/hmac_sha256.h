// HMAC-SHA256 (RFC 2104) and a constant-time comparison for tags.
#pragma once
#include "sha256.h"

class HmacSha256 {
 public:
  void begin(const uint8_t* key, size_t key_len);
  void update(const uint8_t* data, size_t len) { inner_.update(data, len); }
  void finish(uint8_t mac[Sha256::kDigestSize]);

 private:
  Sha256 inner_;
  uint8_t key_block_[Sha256::kBlockSize];  // key padded to one block (not yet XORed)
};

// True when the first n bytes match; the time taken does not depend on where they differ.
bool equal_constant_time(const uint8_t* a, const uint8_t* b, uint8_t n);
