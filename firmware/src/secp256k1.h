// The secp256k1 curve y² = x³ + 7 over p = 2²⁵⁶ − 2³² − 977: field arithmetic with the
// fast reduction, Jacobian points, and k·G by a fixed-base comb (4 teeth, 15 points in
// flash). Numbers are 32 little-endian bytes (u256.h). Field operations take the same time
// for any input; the comb skips additions for zero digits.
#pragma once
#include <stdint.h>

namespace secp256k1 {
// In flash (PROGMEM) on the AVR.
extern const uint8_t kP[32];
extern const uint8_t kN[32];

// Field elements are fully reduced (< p).
void fe_mul(uint8_t* r, const uint8_t* a, const uint8_t* b);
void fe_sqr(uint8_t* r, const uint8_t* a);

struct Affine {
  uint8_t x[32], y[32];
};
struct Jacobian {
  uint8_t x[32], y[32], z[32];  // (x/z², y/z³); z = 0: the point at infinity
};

void point_double(Jacobian& p);
// p += q, q = x ‖ y in flash (PROGMEM). True when p was q: then p is q, to be doubled.
bool point_add_affine(Jacobian& p, const uint8_t* q_P);
// `blind`: any nonzero field element; it hides the inversion's timing. Uses p.z as
// scratch; out may alias p.
void to_affine(Affine& out, Jacobian& p, const uint8_t* blind);

// k·G; k < n. Calls `yield` twice per comb column (128 times, ~25 ms apart on the AVR) so
// the caller can keep other work (metering, the watchdog) going.
void mul_base(Jacobian& out, const uint8_t* k, void (*yield)());
}  // namespace secp256k1
