#include "secp256k1.h"

#include <string.h>

#include "progmem.h"
#include "secp256k1_comb.h"
#include "u256.h"

namespace secp256k1 {

// little-endian
const uint8_t kP[32] PROGMEM = {0x2f, 0xfc, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const uint8_t kN[32] PROGMEM = {0x41, 0x41, 0x36, 0xd0, 0x8c, 0x5e, 0xd2, 0xbf, 0x3b, 0xa0, 0x48,
                        0xaf, 0xe6, 0xdc, 0xae, 0xba, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff,
                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

namespace {
#ifdef __AVR__
typedef __uint24 column_t;  // 32 products of 16 bits plus a carry fit in 22 bits
#else
typedef uint32_t column_t;
#endif

// t (64 bytes) mod p into r. With 2²⁵⁶ ≡ 2³² + 977 (mod p), the high half h folds in as
// h·977 + h·2³² (977 = 3·256 + 0xD1); what spills above 2²⁵⁶ (at most 5 bytes, then a
// carry) folds in again. The high half is only read while the low half is written, and
// then serves as scratch. The steps depend on hn only, never on the values: the bytes h
// reaches, then the carry through the rest of t, then the spill.
void fold(uint8_t* t, const uint8_t* h, uint8_t hn, uint8_t* spill) {
  column_t acc = 0;
  uint8_t prev = 0;  // h[i − 1]
  uint8_t i = 0;
  for (; i < hn + 4; ++i) {
    const uint8_t x = i < hn ? h[i] : 0;
    acc += static_cast<uint16_t>(x * 0xD1u);
    acc += static_cast<uint16_t>(prev * 3u);
    if (i >= 4) acc += h[i - 4];
    prev = x;
    if (i < 32) {
      acc += t[i];
      t[i] = static_cast<uint8_t>(acc);
    } else {
      spill[i - 32] = static_cast<uint8_t>(acc);
    }
    acc >>= 8;
  }
  for (; i < 32; ++i) {
    acc += t[i];
    t[i] = static_cast<uint8_t>(acc);
    acc >>= 8;
  }
  for (; i < 37; ++i) {
    spill[i - 32] = static_cast<uint8_t>(acc);
    acc >>= 8;
  }
}

__attribute__((noinline)) void reduce(uint8_t* r, uint8_t* t) {
  uint8_t spill[5], again[5];
  fold(t, t + 32, 32, spill);
  fold(t, spill, 5, again);  // again: a carry of at most 1
  fold(t, again, 1, spill);  // t < 2²⁵⁶ now
  uint8_t* minus_p = t + 32;
  const uint8_t borrow = u256::sub_m(minus_p, t, kP);
  memcpy(r, t, 32);
  u256::select(r, minus_p, !borrow);
}

void fe_add(uint8_t* r, const uint8_t* a, const uint8_t* b) { u256::mod_add(r, a, b, kP); }
void fe_sub(uint8_t* r, const uint8_t* a, const uint8_t* b) { u256::mod_sub(r, a, b, kP); }
}  // namespace

namespace {
// acc += Σ a[i]·b[−i] for n terms (a ascending, b descending from just below `b_end`).
inline void mac_column(column_t& acc, const uint8_t* a, const uint8_t* b_end, uint8_t n) {
#if defined(__AVR__) && !defined(NO_ASM)
  uint8_t c0 = static_cast<uint8_t>(acc), c1 = static_cast<uint8_t>(acc >> 8),
          c2 = static_cast<uint8_t>(acc >> 16), x, y, zero;
  // `zero` is cleared here, not passed in: the compiler may hand in r1 (__zero_reg__) for a
  // constant 0, and mul overwrites r1.
  asm volatile(
      "clr %[zero]\n\t"
      "1:\n\t"
      "ld %[x], X+\n\t"
      "ld %[y], -Z\n\t"
      "mul %[x], %[y]\n\t"
      "add %[c0], r0\n\t"
      "adc %[c1], r1\n\t"
      "adc %[c2], %[zero]\n\t"
      "dec %[n]\n\t"
      "brne 1b\n\t"
      "clr __zero_reg__\n\t"
      : [c0] "+r"(c0), [c1] "+r"(c1), [c2] "+r"(c2), [n] "+r"(n), "+x"(a), "+z"(b_end),
        [x] "=&r"(x), [y] "=&r"(y), [zero] "=&r"(zero)
      :
      : "r0");
  acc = static_cast<column_t>(c0) | static_cast<column_t>(c1) << 8 |
        static_cast<column_t>(c2) << 16;
#else
  while (n--) acc += static_cast<uint16_t>(static_cast<uint16_t>(*a++) * *--b_end);
#endif
}
}  // namespace

// Product scanning: column k of the 64-byte product sums a[i]·b[k−i].
__attribute__((noinline)) void fe_mul(uint8_t* r, const uint8_t* a, const uint8_t* b) {
  uint8_t t[64];
  column_t acc = 0;
  for (uint8_t k = 0; k < 63; ++k) {
    const uint8_t lo = k < 32 ? 0 : k - 31;
    mac_column(acc, a + lo, b + (k - lo) + 1, (k < 32 ? k : 31) - lo + 1);
    t[k] = static_cast<uint8_t>(acc);
    acc >>= 8;
  }
  t[63] = static_cast<uint8_t>(acc);
  reduce(r, t);
}

void fe_sqr(uint8_t* r, const uint8_t* a) { fe_mul(r, a, a); }

// dbl-2009-l (a = 0): 2M + 5S, three temporaries. Infinity (z = 0) stays infinity.
__attribute__((noinline)) void point_double(Jacobian& p) {
  uint8_t a[32], b[32], c[32];
  fe_mul(p.z, p.y, p.z);
  fe_add(p.z, p.z, p.z);  // Z3 = 2YZ
  fe_sqr(a, p.x);         // A = X²
  fe_sqr(b, p.y);         // B = Y²; Y is not needed any more
  fe_sqr(c, b);           // C = B²
  fe_add(b, p.x, b);
  fe_sqr(b, b);
  fe_sub(b, b, a);
  fe_sub(b, b, c);
  fe_add(b, b, b);        // D = 2((X + B)² − A − C)
  fe_add(p.y, a, a);
  fe_add(a, p.y, a);      // E = 3A
  fe_sqr(p.x, a);         // F = E²
  fe_sub(p.x, p.x, b);
  fe_sub(p.x, p.x, b);    // X3 = F − 2D
  fe_sub(b, b, p.x);
  fe_mul(b, a, b);        // E(D − X3)
  fe_add(c, c, c);
  fe_add(c, c, c);
  fe_add(c, c, c);        // 8C
  fe_sub(p.y, b, c);      // Y3
}

namespace {
void load(Jacobian& p, const uint8_t* q_P) {
  memcpy_P(p.x, q_P, 64);  // x then y
  memset(p.z, 0, 32);
  p.z[0] = 1;
}
}  // namespace

// Mixed addition, 8M + 3S, three temporaries; q's coordinates are read from flash.
__attribute__((noinline)) bool point_add_affine(Jacobian& p, const uint8_t* q_P) {
  if (u256::is_zero(p.z)) {
    load(p, q_P);
    return false;
  }
  uint8_t z2[32], h[32], r[32];
  fe_sqr(z2, p.z);
  memcpy_P(h, q_P, 32);
  fe_mul(h, h, z2);
  fe_sub(h, h, p.x);      // H = x2·Z1² − X1
  fe_mul(z2, z2, p.z);
  memcpy_P(r, q_P + 32, 32);
  fe_mul(r, r, z2);
  fe_sub(r, r, p.y);      // R = y2·Z1³ − Y1
  if (u256::is_zero(h)) {  // same x: p = q (the caller doubles it) or p = −q (infinity)
    if (u256::is_zero(r)) {
      load(p, q_P);
      return true;
    }
    memset(p.z, 0, 32);
    return false;
  }
  fe_mul(p.z, p.z, h);    // Z3 = Z1·H
  fe_sqr(z2, h);          // HH
  fe_mul(h, z2, h);       // HHH
  fe_mul(z2, p.x, z2);    // V = X1·HH
  fe_mul(p.y, p.y, h);    // Y1·HHH
  fe_sqr(p.x, r);
  fe_sub(p.x, p.x, h);
  fe_sub(p.x, p.x, z2);
  fe_sub(p.x, p.x, z2);   // X3 = R² − HHH − 2V
  fe_sub(z2, z2, p.x);
  fe_mul(z2, r, z2);
  fe_sub(p.y, z2, p.y);   // Y3 = R(V − X3) − Y1·HHH
  return false;
}

// p.z is the scratch of the inversion.
__attribute__((noinline)) void to_affine(Affine& out, Jacobian& p, const uint8_t* blind) {
  uint8_t zi2[32];
  fe_mul(p.z, p.z, blind);
  u256::mod_inv(p.z, p.z, kP);
  fe_mul(p.z, p.z, blind);  // 1/z
  fe_sqr(zi2, p.z);
  fe_mul(out.x, p.x, zi2);
  fe_mul(zi2, zi2, p.z);
  fe_mul(out.y, p.y, zi2);
}

// Column c of the comb takes bit 64·i + c of k for tooth i; `yield` after the doubling and
// after the addition. A zero digit (1 column in 16)
// skips the addition: the time leaks how many columns are zero (no dummy addition, whose
// 96-byte copy the stack cannot spare).
void mul_base(Jacobian& out, const uint8_t* k, void (*yield)()) {
  memset(&out, 0, sizeof out);
  for (int8_t col = 63; col >= 0; --col) {
    point_double(out);
    if (yield) yield();
    uint8_t digit = 0;
    for (uint8_t tooth = 0; tooth < 4; ++tooth) {
      const uint8_t byte = static_cast<uint8_t>(tooth * 8 + (col >> 3));
      digit |= ((k[byte] >> (col & 7)) & 1) << tooth;
    }
    if (digit && point_add_affine(out, kComb[digit - 1])) point_double(out);
    if (yield) yield();
  }
}

}  // namespace secp256k1
