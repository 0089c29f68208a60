#include "auth.h"

#include "hmac_sha256.h"

void Auth::start(uint32_t boot_count, uint8_t failures, uint32_t now_ms) {
  boot_count_ = boot_count;
  failures_ = failures;
  counter_ = 0;
  pending_ = false;
  lock_ms_ = 0;
  if (failures_ >= 3) start_lockout(now_ms);
}

void Auth::start_lockout(uint32_t now_ms) {
  const uint8_t exponent = failures_ - 3 < 6 ? failures_ - 3 : 6;
  lock_start_ = now_ms;
  lock_ms_ = 1000UL << exponent;  // 1, 2, 4 … 64 s
}

uint16_t Auth::lockout_remaining_s(uint32_t now_ms) const {
  const uint32_t elapsed = now_ms - lock_start_;
  if (elapsed >= lock_ms_) return 0;
  return static_cast<uint16_t>((lock_ms_ - elapsed + 999) / 1000);
}

// Nonce = SHA-256(boot count ‖ counter ‖ entropy)[0:8]: the (boot, counter) pair never
// repeats, so neither does the nonce (short of a SHA-256 collision).
bool Auth::challenge(uint32_t now_ms, uint32_t entropy, uint8_t nonce[kNonceSize]) {
  if (locked_out(now_ms)) return false;
  uint8_t input[12];
  const uint32_t words[3] = {boot_count_, ++counter_, entropy};
  for (uint8_t i = 0; i < 12; ++i) input[i] = static_cast<uint8_t>(words[i / 4] >> (8 * (i % 4)));
  Sha256 sha;
  sha.update(input, sizeof input);
  uint8_t digest[Sha256::kDigestSize];
  sha.finish(digest);
  for (uint8_t i = 0; i < kNonceSize; ++i) nonce[i] = nonce_[i] = digest[i];
  pending_ = true;
  nonce_time_ = now_ms;
  return true;
}

Auth::Result Auth::verify(const uint8_t key[32], uint8_t first, const uint8_t* rest, uint8_t rest_len,
                          const uint8_t tag[kTagSize], uint32_t now_ms, bool tag_canonical) {
  if (locked_out(now_ms)) return kLockedOut;
  const bool fresh = pending_ && now_ms - nonce_time_ < kNonceLifetimeMs;
  if (!fresh) {
    pending_ = false;
    return kNoChallenge;
  }
  pending_ = false;  // one AUTH per nonce, accepted or not
  HmacSha256 mac;
  mac.begin(key, 32);
  mac.update(nonce_, kNonceSize);
  mac.update(&first, 1);
  mac.update(rest, rest_len);
  uint8_t expected[Sha256::kDigestSize];
  mac.finish(expected);
  if (!(equal_constant_time(expected, tag, kTagSize) & tag_canonical)) {
    if (failures_ < 255) ++failures_;
    if (failures_ >= 3) start_lockout(now_ms);
    return kBadTag;
  }
  failures_ = 0;
  lock_ms_ = 0;
  return kOk;
}
