// The meter's signing key (never sent anywhere), its public key, and the ceilings that keep
// the signed-reading seq and the meter clock increasing across reboots, at the end of
// storage. Layout from `base`: state 'E' (no key) or 'K' (key), key[32], public[64],
// seq ceiling u32, clock ceiling u32 (seconds).
#pragma once
#include <stdint.h>

#include "storage.h"

class SigningStore {
 public:
  static const uint16_t kSize = 112;

  SigningStore(Storage& storage, uint16_t base) : storage_(storage), base_(base) {}
  // Blank storage becomes "no key, seq 0, clock 0".
  void init();
  bool has_key() { return storage_.read(base_) == 'K'; }
  void read_key(uint8_t* key);
  void read_public(uint8_t* pub);
  // Writes and reads back; false if storage did not take it.
  bool save_key(const uint8_t* key, const uint8_t* pub);
  uint32_t seq_ceiling() { return storage_.read_u32(base_ + kSeq); }
  uint32_t clock_ceiling() { return storage_.read_u32(base_ + kClock); }
  bool set_seq_ceiling(uint32_t v) { return write_u32(kSeq, v); }
  bool set_clock_ceiling(uint32_t v) { return write_u32(kClock, v); }

 private:
  static const uint16_t kKey = 1, kPublic = 33, kSeq = 97, kClock = 101;
  bool write_u32(uint16_t offset, uint32_t v) {
    storage_.update_u32(base_ + offset, v);
    return storage_.read_u32(base_ + offset) == v;
  }
  Storage& storage_;
  uint16_t base_;
};
