#include "septets.h"

void Writer::u(uint32_t v, uint8_t septets) {
  while (septets--) {
    raw(v & 0x7F);
    v >>= 7;
  }
}

void Writer::bytes(const uint8_t* p, uint8_t n) {
  while (n--) {
    raw(*p & 0x7F);
    raw(*p++ >> 7);
  }
}
