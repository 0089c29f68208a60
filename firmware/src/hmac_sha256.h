// HMAC-SHA256 (RFC 2104) and a constant-time comparison for tags.
#pragma once
#include "sha256.h"

// Keys up to one block (64 bytes; hash a longer key first, as RFC 2104 does). The key is
// read again by finish(): it must stay as it is until then (finish may write over it).
class HmacSha256 {
 public:
  void begin(const uint8_t* key, uint8_t key_len);
  void update(const uint8_t* data, size_t len) { inner_.update(data, len); }
  void finish(uint8_t mac[Sha256::kDigestSize]);

 private:
  Sha256 inner_;
  const uint8_t* key_;
  uint8_t key_len_;
};

// True when the first n bytes match; the time taken does not depend on where they differ.
bool equal_constant_time(const uint8_t* a, const uint8_t* b, uint8_t n);
