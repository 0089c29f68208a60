#include "sha256.h"

#include <string.h>

#include "progmem.h"

namespace {

const uint32_t kRound[64] PROGMEM = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

const uint32_t kInit[8] PROGMEM = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// Out of line: inlined with constant shifts it would double the code size on the AVR.
// Whole bytes first (byte moves on the AVR), then the remaining bits one at a time.
__attribute__((noinline)) uint32_t rotr(uint32_t x, uint8_t n) {
  for (; n >= 8; n -= 8) x = x >> 8 | x << 24;
  for (; n; --n) x = x >> 1 | x << 31;
  return x;
}

}  // namespace

void Sha256::reset() {
  for (uint8_t i = 0; i < 8; ++i) h_[i] = pgm_read_dword(&kInit[i]);
  length_ = 0;
  fill_ = 0;
}

void Sha256::update(const uint8_t* data, size_t len) {
  while (len--) {
    block_[fill_++] = *data++;
    ++length_;
    if (fill_ == kBlockSize) {
      compress();
      fill_ = 0;
    }
  }
}

void Sha256::finish(uint8_t digest[kDigestSize]) {
  const uint32_t bits_hi = length_ >> 29;
  const uint32_t bits_lo = length_ << 3;
  block_[fill_++] = 0x80;
  if (fill_ > kBlockSize - 8) {
    while (fill_ < kBlockSize) block_[fill_++] = 0;
    compress();
    fill_ = 0;
  }
  while (fill_ < kBlockSize - 8) block_[fill_++] = 0;
  for (uint8_t i = 0; i < 4; ++i) {
    block_[56 + i] = static_cast<uint8_t>(bits_hi >> (24 - 8 * i));
    block_[60 + i] = static_cast<uint8_t>(bits_lo >> (24 - 8 * i));
  }
  compress();
  for (uint8_t i = 0; i < 32; ++i) digest[i] = static_cast<uint8_t>(h_[i / 4] >> (24 - 8 * (i % 4)));
  reset();
}

// One 64-byte block, with the message schedule kept in a rolling 16-word window and the
// working variables a..h in an array shifted down each round (small code, small frame).
void Sha256::compress() {
  uint32_t w[16], v[8];  // v: a, b, c, d, e, f, g, h
  for (uint8_t i = 0; i < 16; ++i) {
    const uint8_t* p = block_ + 4 * i;
    w[i] = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  }
  memcpy(v, h_, sizeof v);
  for (uint8_t t = 0; t < 64; ++t) {
    if (t >= 16) {
      const uint32_t w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15];
      const uint32_t s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3);
      const uint32_t s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10);
      w[t & 15] += s0 + w[(t - 7) & 15] + s1;
    }
    const uint32_t e = v[4];
    const uint32_t t1 = v[7] + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & v[5]) ^ (~e & v[6])) +
                        pgm_read_dword(&kRound[t]) + w[t & 15];
    const uint32_t a = v[0];
    const uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & v[1]) ^ (a & v[2]) ^ (v[1] & v[2]));
    memmove(v + 1, v, 7 * sizeof v[0]);
    v[4] += t1;
    v[0] = t1 + t2;
  }
  for (uint8_t i = 0; i < 8; ++i) h_[i] += v[i];
}
