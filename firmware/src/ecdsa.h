// ECDSA over secp256k1 with RFC 6979 nonces (HMAC-SHA256), low s and the recovery id:
// what Ethereum's ecrecover takes. Keys, digests, r and s are 32 big-endian bytes.
#pragma once
#include <stdint.h>

namespace ecdsa {
// 0 < key < n
bool valid_private_key(const uint8_t* key);
// X ‖ Y of key·G, big-endian (64 bytes). `yield` as in secp256k1::mul_base.
void public_key(uint8_t* pub, const uint8_t* key, void (*yield)());
// Writes the private key (32 bytes) into its argument; called whenever the key is needed,
// so no copy of it sits on the stack while the curve arithmetic runs.
typedef void (*KeyReader)(uint8_t* key);
// Signs `digest`; s ≤ n/2; recid: the parity of R.y after the low-s flip (0 or 1).
void sign(uint8_t* r, uint8_t* s, uint8_t& recid, KeyReader read_key, const uint8_t* digest,
          void (*yield)());
}  // namespace ecdsa
