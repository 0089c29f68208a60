#include "ecdsa.h"

#include <string.h>

#include "hmac_sha256.h"
#include "progmem.h"
#include "secp256k1.h"
#include "u256.h"

using secp256k1::kN;

namespace ecdsa {
namespace {
const int kNoSeparator = -1;

// out = HMAC_K(V [‖ sep] [‖ x ‖ h]) (RFC 6979 §3.2 steps d–h)
__attribute__((noinline)) void hmac_step(uint8_t* out, const uint8_t* key, const uint8_t* v, int sep, const uint8_t* x,
               const uint8_t* h) {
  // Yields between the SHA-256 blocks (a few ms each on the AVR), at this depth rather than
  // inside the hash: the caller's work runs on a shallower stack.
  HmacSha256 mac;
  mac.begin(key, 32);
  if (u256::yield) u256::yield();
  mac.update(v, 32);
  if (sep != kNoSeparator) {
    const uint8_t s = static_cast<uint8_t>(sep);
    mac.update(&s, 1);
  }
  if (x) {
    mac.update(x, 32);
    mac.update(h, 32);
  }
  if (u256::yield) u256::yield();
  mac.finish(out);
  if (u256::yield) u256::yield();
}

// Sets the hooks of the slow primitives for the time of one operation.
struct Yielding {
  explicit Yielding(void (*yield)()) { u256::yield = yield; }
  ~Yielding() { u256::yield = 0; }
};

void wipe(void* p, uint8_t n) {
  volatile uint8_t* b = static_cast<volatile uint8_t*>(p);
  while (n--) *b++ = 0;
}

// a < n, a big-endian
bool below_n_be(const uint8_t* a) {
  uint8_t borrow = 0;
  for (uint8_t i = 0; i < 32; ++i) {
    const uint16_t t = static_cast<uint16_t>(a[31 - i]) - pgm_read_byte(kN + i) - borrow;
    borrow = (t >> 8) & 1;
  }
  return borrow;
}

// A nonzero value below both p and n from `seed` (little-endian), for blinding.
void blinding(uint8_t* b, const uint8_t* seed_be) {  // b may be seed_be
  uint8_t t[32];
  u256::from_be(t, seed_be);
  memcpy(b, t, 32);
  b[31] &= 0x7F;
  b[0] |= 1;
}
}  // namespace

bool valid_private_key(const uint8_t* key) {
  uint8_t k[32];
  u256::from_be(k, key);
  const bool ok = !u256::is_zero(k) && u256::below(k, kN);
  wipe(k, sizeof k);
  return ok;
}

__attribute__((noinline)) void public_key(uint8_t* pub, const uint8_t* key, void (*yield)()) {
  const Yielding hooks(yield);
  uint8_t k[32];  // the scalar, then the blinding value
  u256::from_be(k, key);
  secp256k1::Jacobian p;
  secp256k1::mul_base(p, k, yield);
  blinding(k, key);  // any nonzero value works; the key's own bits are at hand
  secp256k1::Affine& a = *reinterpret_cast<secp256k1::Affine*>(&p);  // x, y in place
  secp256k1::to_affine(a, p, k);
  wipe(k, sizeof k);
  u256::to_be(pub, a.x);
  u256::to_be(pub + 32, a.y);
}

namespace {
// Candidate number `attempt` (0, 1, ...) of RFC 6979 §3.2 step h for the key `read_key`
// gives and `digest` (k, little-endian), and a blinding value drawn after it. Retries replay
// the derivation (it is deterministic), so K and V stay in this frame, off the curve
// arithmetic's stack; the key and h1 sit in `blind` and `k` until those are written.
__attribute__((noinline)) void nonce(uint8_t* k, uint8_t* blind, KeyReader read_key,
                                     const uint8_t* digest, uint8_t attempt) {
  uint8_t kv[64];  // K then V
  uint8_t* K = kv;
  uint8_t* V = kv + 32;
  uint8_t* key = blind;
  uint8_t* h1 = k;
  u256::from_be(V, digest);
  if (!u256::sub_m(K, V, kN)) memcpy(V, K, 32);  // bits2octets: digest mod n
  u256::to_be(h1, V);
  read_key(key);
  memset(K, 0, 32);
  memset(V, 1, 32);
  hmac_step(K, K, V, 0, key, h1);
  hmac_step(V, K, V, kNoSeparator, 0, 0);
  hmac_step(K, K, V, 1, key, h1);
  hmac_step(V, K, V, kNoSeparator, 0, 0);
  for (;;) {
    hmac_step(V, K, V, kNoSeparator, 0, 0);
    if (!u256::is_zero(V) && below_n_be(V) && attempt-- == 0) break;
    hmac_step(K, K, V, 0, 0, 0);  // K = HMAC_K(V ‖ 0x00)
    hmac_step(V, K, V, kNoSeparator, 0, 0);
  }
  hmac_step(K, K, V, 2, key, h1);  // blinding only: RFC 6979's K is not needed any more
  u256::from_be(k, V);
  blinding(blind, K);
  wipe(kv, sizeof kv);
}

// R = k·G; r = R.x (little-endian, into r) and the parity of R.y. False when r is 0 or not
// below n (then RFC 6979 takes the next k). Its own scope keeps the point off the stack
// while the scalar part runs.
__attribute__((noinline)) bool nonce_point(uint8_t* r, uint8_t& parity, const uint8_t* k,
                                           const uint8_t* blind, void (*yield)()) {
  secp256k1::Jacobian big_r;
  secp256k1::mul_base(big_r, k, yield);
  secp256k1::Affine& ra = *reinterpret_cast<secp256k1::Affine*>(&big_r);  // x, y in place
  secp256k1::to_affine(ra, big_r, blind);
  memcpy(r, ra.x, 32);
  parity = ra.y[0] & 1;
  return !u256::is_zero(r) && u256::below(r, kN);
}

// s = k⁻¹(z + r·d) mod n, little-endian, into s; the inversion blinded. False for s = 0.
__attribute__((noinline)) bool scalar_s(uint8_t* s, const uint8_t* r, const uint8_t* k,
                                        const uint8_t* blind, KeyReader read_key,
                                        const uint8_t* digest) {
  uint8_t t[32], z[32];
  read_key(t);
  u256::from_be(z, t);
  u256::mod_mul_slow(z, r, z, kN);  // r·d
  u256::from_be(t, digest);
  if (!u256::sub_m(s, t, kN)) memcpy(t, s, 32);  // z = digest mod n
  u256::mod_add(z, z, t, kN);           // z + r·d
  u256::mod_mul_slow(t, k, blind, kN);
  u256::mod_inv(t, t, kN);
  u256::mod_mul_slow(t, t, blind, kN);  // 1/k, blinded
  u256::mod_mul_slow(s, z, t, kN);
  wipe(z, sizeof z);
  wipe(t, sizeof t);
  return !u256::is_zero(s);
}

void reverse(uint8_t* p) {  // little-endian ↔ big-endian in place
  for (uint8_t i = 0; i < 16; ++i) {
    const uint8_t t = p[i];
    p[i] = p[31 - i];
    p[31 - i] = t;
  }
}
}  // namespace

// r and s are worked out in place in r_out and s_out (little-endian), then turned around.
__attribute__((noinline)) void sign(uint8_t* r_out, uint8_t* s_out, uint8_t& recid,
                                    KeyReader read_key, const uint8_t* digest,
                                    void (*yield)()) {
  const Yielding hooks(yield);
  uint8_t k[32], blind[32];
  for (uint8_t attempt = 0;; ++attempt) {
    nonce(k, blind, read_key, digest, attempt);
    if (!nonce_point(r_out, recid, k, blind, yield)) continue;
    if (!scalar_s(s_out, r_out, k, blind, read_key, digest)) continue;
    memset(k, 0, 32);
    u256::mod_sub(k, k, s_out, kN);  // n − s
    if (u256::cmp(s_out, k) > 0) {  // s > n/2: use n − s, and R's other y
      memcpy(s_out, k, 32);
      recid ^= 1;
    }
    reverse(r_out);
    reverse(s_out);
    wipe(k, sizeof k);
    wipe(blind, sizeof blind);
    return;
  }
}

}  // namespace ecdsa
