// secp256k1 and ECDSA against published vectors: public keys of small keys and of the
// web3.js documentation key, and the RFC 6979 secp256k1 signatures of the python-ecdsa /
// Trezor set (key 1, "Satoshi Nakamoto"; key 1, "All those moments ..."), checked also
// with eth_keys. The Python test tests/firmware/test_signing.py verifies random ones.
#include <cstring>
#include <string>

#include "../src/ecdsa.h"
#include "../src/secp256k1.h"
#include "../src/sha256.h"
#include "../src/u256.h"
#include "check.h"

namespace {
std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

void unhex(uint8_t* out, const char* h) {
  for (size_t i = 0; h[2 * i]; ++i) {
    auto v = [](char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; };
    out[i] = static_cast<uint8_t>(v(h[2 * i]) << 4 | v(h[2 * i + 1]));
  }
}

int yields = 0;
void count_yield() { ++yields; }

std::string pub_of(const char* key_hex) {
  uint8_t key[32], pub[64];
  unhex(key, key_hex);
  ecdsa::public_key(pub, key, count_yield);
  return hex(pub, 64);
}

struct Sig {
  std::string r, s;
  int recid;
};

uint8_t signing_key[32];
void read_key(uint8_t* key) { std::memcpy(key, signing_key, 32); }

Sig sign_text(const char* key_hex, const std::string& text) {
  uint8_t digest[32], r[32], s[32], recid = 9;
  unhex(signing_key, key_hex);
  Sha256 h;
  h.update(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  h.finish(digest);
  ecdsa::sign(r, s, recid, read_key, digest, nullptr);
  return {hex(r, 32), hex(s, 32), recid};
}

const char* kOne = "0000000000000000000000000000000000000000000000000000000000000001";
const char* kNMinus1 = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140";
}  // namespace

TEST(public_keys_of_small_keys_are_g_2g_3g) {
  yields = 0;
  CHECK(pub_of(kOne) ==
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8");
  CHECK(yields >= 128);  // two per comb column, more in the inversion
  CHECK(pub_of("0000000000000000000000000000000000000000000000000000000000000002") ==
        "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5"
        "1ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a");
  CHECK(pub_of("0000000000000000000000000000000000000000000000000000000000000003") ==
        "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"
        "388f7b0f632de8140fe337e62a37f3566500a99934c2231b6cb9fd7584b8e672");
}

TEST(public_keys_of_large_keys) {
  CHECK(pub_of(kNMinus1) ==  // −G
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        "b7c52588d95c3b9aa25b0403f1eef75702e84bb7597aabe663b82f6f04ef2777");
  // web3.js docs: this key's address is 0x2c7536E3605D9C16a7a3D7b1898e529396a65c23
  CHECK(pub_of("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318") ==
        "4e3b81af9c2234cad09d679ce6035ed1392347ce64ce405f5dcd36228a25de6e"
        "47fd35c4215d1edf53e6f83de344615ce719bdb0fd878f6ed76f06dd277956de");
}

TEST(rfc6979_signatures_match_published_vectors) {
  Sig a = sign_text(kOne, "Satoshi Nakamoto");
  CHECK(a.r == "934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d8");
  CHECK(a.s == "2442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5");
  CHECK_EQ(a.recid, 1);
  Sig b = sign_text(kOne, "All those moments will be lost in time, like tears in rain. Time to die...");
  CHECK(b.r == "8600dbd41e348fe5c9465ab92d23e3db8b98b873beecd930736488696438cb6b");
  CHECK(b.s == "547fe64427496db33bf66019dacbf0039c04199abb0122918601db38a72cfc21");
  CHECK_EQ(b.recid, 0);
  Sig c = sign_text(kNMinus1, "Satoshi Nakamoto");  // s came out high: flipped to n − s
  CHECK(c.r == "fd567d121db66e382991534ada77a6bd3106f0a1098c231e47993447cd6af2d0");
  CHECK(c.s == "6b39cd0eb1bc8603e159ef5c20a5c8ad685a45b06ce9bebed3f153d10d93bed5");
  CHECK_EQ(c.recid, 0);
}

TEST(private_key_range) {
  uint8_t k[32];
  std::memset(k, 0, 32);
  CHECK(!ecdsa::valid_private_key(k));
  unhex(k, kNMinus1);
  CHECK(ecdsa::valid_private_key(k));
  k[31] += 1;  // n
  CHECK(!ecdsa::valid_private_key(k));
}

TEST(field_reduction_edges) {
  // (p − 1)² ≡ 1 and (2²⁵⁶ − 2³² − 978)·2 ≡ p − 2·1 ... checked as (p−1)·(p−1) = 1, (p−1)·2 = p−2
  uint8_t pm1[32], two[32], r[32];
  std::memcpy(pm1, secp256k1::kP, 32);  // flash is plain memory on the host
  pm1[0] -= 1;
  secp256k1::fe_mul(r, pm1, pm1);
  uint8_t one[32] = {1};
  CHECK(std::memcmp(r, one, 32) == 0);
  std::memset(two, 0, 32);
  two[0] = 2;
  secp256k1::fe_mul(r, pm1, two);
  uint8_t pm2[32];
  std::memcpy(pm2, secp256k1::kP, 32);
  pm2[0] -= 2;
  CHECK(std::memcmp(r, pm2, 32) == 0);
  uint8_t inv[32];
  u256::mod_inv(inv, pm1, secp256k1::kP);  // (−1)⁻¹ = −1
  CHECK(std::memcmp(inv, pm1, 32) == 0);
}
