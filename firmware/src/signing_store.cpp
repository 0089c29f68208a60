#include "signing_store.h"

void SigningStore::init() {
  const uint8_t state = storage_.read(base_);
  if (state == 'K' || state == 'E') return;
  storage_.update_u32(base_ + kSeq, 0);
  storage_.update_u32(base_ + kClock, 0);
  storage_.update(base_, 'E');
}

void SigningStore::read_key(uint8_t* key) {
  for (uint8_t i = 0; i < 32; ++i) key[i] = storage_.read(base_ + kKey + i);
}

void SigningStore::read_public(uint8_t* pub) {
  for (uint8_t i = 0; i < 64; ++i) pub[i] = storage_.read(base_ + kPublic + i);
}

bool SigningStore::save_key(const uint8_t* key, const uint8_t* pub) {
  storage_.update(base_, 'E');  // a torn write leaves "no key", never a half key
  uint8_t diff = 0;
  for (uint8_t i = 0; i < 32; ++i) {
    storage_.update(base_ + kKey + i, key[i]);
    diff |= storage_.read(base_ + kKey + i) ^ key[i];
  }
  for (uint8_t i = 0; i < 64; ++i) {
    storage_.update(base_ + kPublic + i, pub[i]);
    diff |= storage_.read(base_ + kPublic + i) ^ pub[i];
  }
  if (diff) return false;
  storage_.update(base_, 'K');
  return has_key();
}
