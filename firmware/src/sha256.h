// SHA-256 (FIPS 180-4), small enough for an ATmega328P.
#pragma once
#include <stddef.h>
#include <stdint.h>

class Sha256 {
 public:
  static const uint8_t kDigestSize = 32;
  static const uint8_t kBlockSize = 64;

  Sha256() { reset(); }
  void reset();
  void update(const uint8_t* data, size_t len);
  void finish(uint8_t digest[kDigestSize]);

 private:
  void compress();

  uint32_t h_[8];
  uint8_t block_[kBlockSize];
  uint32_t length_;  // bytes hashed so far (messages here are short)
  uint8_t fill_;
};
