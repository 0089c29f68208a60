// Challenge nonces, HMAC tag checks and the failure lockout (PROTOCOL.md §5.5–5.8).
#pragma once
#include <stdint.h>

class Auth {
 public:
  static const uint8_t kNonceSize = 8;
  static const uint8_t kTagSize = 16;
  static const uint32_t kNonceLifetimeMs = 30000;
  enum Result { kOk, kLockedOut, kNoChallenge, kBadTag };

  // At boot. `failures`: consecutive failures kept across reboots; a lockout restarts.
  void start(uint32_t boot_count, uint8_t failures, uint32_t now_ms);

  // Issues a fresh nonce (replacing any pending one); false while locked out.
  bool challenge(uint32_t now_ms, uint32_t entropy, uint8_t nonce[kNonceSize]);
  // Checks tag = HMAC-SHA256(key, nonce ‖ first ‖ rest)[0:16]; consumes the nonce when it
  // gets as far as the tag check. A tag that came non-canonically encoded
  // (`tag_canonical` false) is a bad tag whatever its bits.
  Result verify(const uint8_t key[32], uint8_t first, const uint8_t* rest, uint8_t rest_len,
                const uint8_t tag[kTagSize], uint32_t now_ms, bool tag_canonical = true);
  // Forgets a pending nonce (SYSTEM_RESET): an AUTH after it gets NO_CHALLENGE.
  void discard_nonce() { pending_ = false; }
  bool locked_out(uint32_t now_ms) const { return lockout_remaining_s(now_ms) > 0; }
  uint16_t lockout_remaining_s(uint32_t now_ms) const;
  uint8_t failures() const { return failures_; }

 private:
  void start_lockout(uint32_t now_ms);

  uint32_t boot_count_ = 0;
  uint32_t counter_ = 0;  // nonces issued since boot
  uint8_t nonce_[kNonceSize] = {0};
  bool pending_ = false;
  uint32_t nonce_time_ = 0;
  uint8_t failures_ = 0;
  uint32_t lock_start_ = 0, lock_ms_ = 0;
};
