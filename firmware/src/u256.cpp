#include "u256.h"

#include <string.h>

#include "progmem.h"

namespace u256 {

void (*yield)() = 0;

uint8_t add(uint8_t* r, const uint8_t* a, const uint8_t* b) {
  uint16_t c = 0;
  for (uint8_t i = 0; i < kBytes; ++i) {
    c += static_cast<uint16_t>(a[i]) + b[i];
    r[i] = static_cast<uint8_t>(c);
    c >>= 8;
  }
  return static_cast<uint8_t>(c);
}

uint8_t sub(uint8_t* r, const uint8_t* a, const uint8_t* b) {
  uint8_t borrow = 0;
  for (uint8_t i = 0; i < kBytes; ++i) {
    const uint16_t t = static_cast<uint16_t>(a[i]) - b[i] - borrow;
    r[i] = static_cast<uint8_t>(t);
    borrow = (t >> 8) & 1;
  }
  return borrow;
}

uint8_t sub_m(uint8_t* r, const uint8_t* a, const uint8_t* m) {
  uint8_t borrow = 0;
  for (uint8_t i = 0; i < kBytes; ++i) {
    const uint16_t t = static_cast<uint16_t>(a[i]) - pgm_read_byte(m + i) - borrow;
    r[i] = static_cast<uint8_t>(t);
    borrow = (t >> 8) & 1;
  }
  return borrow;
}

namespace {
uint8_t add_m(uint8_t* r, const uint8_t* a, const uint8_t* m) {
  uint16_t c = 0;
  for (uint8_t i = 0; i < kBytes; ++i) {
    c += static_cast<uint16_t>(a[i]) + pgm_read_byte(m + i);
    r[i] = static_cast<uint8_t>(c);
    c >>= 8;
  }
  return static_cast<uint8_t>(c);
}
}  // namespace

bool below(const uint8_t* a, const uint8_t* m) {
  uint8_t t[kBytes];
  return sub_m(t, a, m);
}

int8_t cmp(const uint8_t* a, const uint8_t* b) {
  for (uint8_t i = kBytes; i-- > 0;)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

bool is_zero(const uint8_t* a) {
  uint8_t any = 0;
  for (uint8_t i = 0; i < kBytes; ++i) any |= a[i];
  return any == 0;
}

void select(uint8_t* r, const uint8_t* a, bool take, uint8_t n) {
  const uint8_t mask = static_cast<uint8_t>(-static_cast<int8_t>(take));
  for (uint8_t i = 0; i < n; ++i) r[i] ^= (r[i] ^ a[i]) & mask;
}

void from_be(uint8_t* r, const uint8_t* be) {
  for (uint8_t i = 0; i < kBytes; ++i) r[i] = be[kBytes - 1 - i];
}

void to_be(uint8_t* be, const uint8_t* a) { from_be(be, a); }

__attribute__((noinline)) void mod_add(uint8_t* r, const uint8_t* a, const uint8_t* b, const uint8_t* m) {
  uint8_t t[kBytes];
  const uint8_t carry = add(r, a, b);
  const uint8_t borrow = sub_m(t, r, m);
  select(r, t, carry | !borrow);
}

__attribute__((noinline)) void mod_sub(uint8_t* r, const uint8_t* a, const uint8_t* b, const uint8_t* m) {
  uint8_t t[kBytes];
  const uint8_t borrow = sub(r, a, b);
  add_m(t, r, m);
  select(r, t, borrow);
}

__attribute__((noinline)) void mod_mul_slow(uint8_t* r, const uint8_t* a, const uint8_t* b, const uint8_t* m) {
  uint8_t acc[kBytes];
  memset(acc, 0, sizeof acc);
  for (uint8_t i = kBytes; i-- > 0;) {
    if (yield) yield();
    for (uint8_t bit = 0x80; bit; bit >>= 1) {
      mod_add(acc, acc, acc, m);
      uint8_t sum[kBytes];
      mod_add(sum, acc, a, m);
      select(acc, sum, b[i] & bit);
    }
  }
  memcpy(r, acc, kBytes);
}

namespace {
void shift_right(uint8_t* a, uint8_t top) {
  for (uint8_t i = 0; i < kBytes; ++i) {
    const uint8_t next = i + 1 < kBytes ? a[i + 1] : top;
    a[i] = static_cast<uint8_t>(a[i] >> 1 | next << 7);
  }
}
// x = x / 2 mod m
void halve(uint8_t* x, const uint8_t* m) {
  uint8_t carry = 0;
  if (x[0] & 1) carry = add_m(x, x, m);
  shift_right(x, carry);
}
bool is_one(const uint8_t* a) {
  uint8_t any = a[0] ^ 1;
  for (uint8_t i = 1; i < kBytes; ++i) any |= a[i];
  return any == 0;
}
}  // namespace

// Invariants: x1·a ≡ u and x2·a ≡ v (mod m); gcd(u, v) = 1 throughout.
// u is worked in r.
__attribute__((noinline)) void mod_inv(uint8_t* r, const uint8_t* a, const uint8_t* m) {
  uint8_t v[kBytes], x1[kBytes], x2[kBytes];
  uint8_t* u = r;
  if (is_zero(a)) {
    memset(r, 0, kBytes);
    return;
  }
  memmove(u, a, kBytes);
  memcpy_P(v, m, kBytes);
  memset(x1, 0, kBytes);
  memset(x2, 0, kBytes);
  x1[0] = 1;
  for (uint8_t step = 0; !is_one(u) && !is_one(v); ++step) {
    if (yield && (step & 15) == 0) yield();
    while (!(u[0] & 1)) {
      shift_right(u, 0);
      halve(x1, m);
    }
    while (!(v[0] & 1)) {
      shift_right(v, 0);
      halve(x2, m);
    }
    if (cmp(u, v) >= 0) {
      sub(u, u, v);
      mod_sub(x1, x1, x2, m);
    } else {
      sub(v, v, u);
      mod_sub(x2, x2, x1, m);
    }
  }
  memcpy(r, is_one(u) ? x1 : x2, kBytes);
}

}  // namespace u256
