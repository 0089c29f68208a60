// 256-bit unsigned integers as 32 little-endian bytes, and arithmetic modulo an odd m.
#pragma once
#include <stdint.h>

namespace u256 {
const uint8_t kBytes = 32;
// Called every few milliseconds by mod_mul_slow and mod_inv (and ecdsa's hashing) when set:
// the caller's other work (metering) goes on during a signature.
extern void (*yield)();

uint8_t add(uint8_t* r, const uint8_t* a, const uint8_t* b);  // returns the carry
uint8_t sub(uint8_t* r, const uint8_t* a, const uint8_t* b);  // returns the borrow
int8_t cmp(const uint8_t* a, const uint8_t* b);
bool is_zero(const uint8_t* a);
// r = a if `take`, else r unchanged, without a branch on `take`.
void select(uint8_t* r, const uint8_t* a, bool take, uint8_t n = kBytes);
// Big-endian bytes ↔ this representation.
void from_be(uint8_t* r, const uint8_t* be);
void to_be(uint8_t* be, const uint8_t* a);

// Moduli `m` (and `m_P` below) live in flash (PROGMEM) on the AVR.
// r = a − m; returns the borrow.
uint8_t sub_m(uint8_t* r, const uint8_t* a, const uint8_t* m);
// a < m
bool below(const uint8_t* a, const uint8_t* m);

// a, b < m
void mod_add(uint8_t* r, const uint8_t* a, const uint8_t* b, const uint8_t* m);
void mod_sub(uint8_t* r, const uint8_t* a, const uint8_t* b, const uint8_t* m);
// r = a·b mod m by double-and-add (slow; for the two products of a signature).
void mod_mul_slow(uint8_t* r, const uint8_t* a, const uint8_t* b, const uint8_t* m);
// r = a⁻¹ mod m (binary extended Euclid, m odd, 0 < a < m; r may be a; 0 for a = 0). Its
// time depends on a: blind it.
void mod_inv(uint8_t* r, const uint8_t* a, const uint8_t* m);
}  // namespace u256
