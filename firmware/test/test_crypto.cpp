// SHA-256 against FIPS 180-4 examples, HMAC-SHA256 against RFC 4231.
#include <cstring>
#include <string>
#include <vector>

#include "../src/hmac_sha256.h"
#include "check.h"

static std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

static std::string sha(const std::string& msg) {
  Sha256 h;
  h.update(reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  uint8_t out[32];
  h.finish(out);
  return hex(out, 32);
}

// Keys longer than a block are hashed first (RFC 2104 §2): the caller's job here.
static std::string hmac(std::vector<uint8_t> key, const std::string& msg) {
  if (key.size() > Sha256::kBlockSize) {
    Sha256 k;
    k.update(key.data(), key.size());
    key.assign(Sha256::kDigestSize, 0);
    k.finish(key.data());
  }
  HmacSha256 h;
  h.begin(key.data(), static_cast<uint8_t>(key.size()));
  h.update(reinterpret_cast<const uint8_t*>(msg.data()), msg.size());
  uint8_t out[32];
  h.finish(out);
  return hex(out, 32);
}

TEST(sha256_fips_examples) {
  CHECK(sha("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(sha256_million_a_in_uneven_chunks) {
  Sha256 h;
  std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left) {
    const size_t n = left < chunk.size() ? left : chunk.size();
    h.update(reinterpret_cast<const uint8_t*>(chunk.data()), n);
    left -= n;
  }
  uint8_t out[32];
  h.finish(out);
  CHECK(hex(out, 32) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(sha256_padding_boundaries_55_56_64_bytes) {
  // Lengths around the padding edge; expected digests from Python's hashlib.
  CHECK(sha(std::string(55, 'x')) ==
        "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
  CHECK(sha(std::string(56, 'x')) ==
        "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
  CHECK(sha(std::string(64, 'x')) ==
        "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

TEST(hmac_rfc4231_cases) {
  CHECK(hmac(std::vector<uint8_t>(20, 0x0b), "Hi There") ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hmac({'J', 'e', 'f', 'e'}, "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hmac(std::vector<uint8_t>(20, 0xaa), std::string(50, '\xdd')) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  std::vector<uint8_t> k4;
  for (uint8_t i = 1; i <= 25; ++i) k4.push_back(i);
  CHECK(hmac(k4, std::string(50, '\xcd')) ==
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  CHECK(hmac(std::vector<uint8_t>(20, 0x0c), "Test With Truncation").substr(0, 32) ==
        "a3b6167473100ee06e0c796c2955552b");
  CHECK(hmac(std::vector<uint8_t>(131, 0xaa),
             "Test Using Larger Than Block-Size Key - Hash Key First") ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(hmac(std::vector<uint8_t>(131, 0xaa),
             "This is a test using a larger than block-size key and a larger than block-size "
             "data. The key needs to be hashed before being used by the HMAC algorithm.") ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(constant_time_compare) {
  const uint8_t a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 5};
  CHECK(equal_constant_time(a, a, 4));
  CHECK(!equal_constant_time(a, b, 4));
  CHECK(equal_constant_time(a, b, 3));
}
