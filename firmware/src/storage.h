// Byte-addressed non-volatile storage (the AVR's EEPROM; an array in host tests).
#pragma once
#include <stdint.h>

class Storage {
 public:
  virtual uint16_t size() const = 0;
  virtual uint8_t read(uint16_t addr) = 0;
  virtual void update(uint16_t addr, uint8_t value) = 0;  // writes only if it differs

  uint32_t read_u32(uint16_t addr) {
    uint32_t v = 0;
    for (uint8_t i = 4; i > 0; --i) v = (v << 8) | read(addr + i - 1);
    return v;
  }
  uint16_t read_u16(uint16_t addr) { return static_cast<uint16_t>(read(addr) | read(addr + 1) << 8); }
  void update_u32(uint16_t addr, uint32_t v) {
    for (uint8_t i = 0; i < 4; ++i) update(addr + i, static_cast<uint8_t>(v >> (8 * i)));
  }
  void update_u16(uint16_t addr, uint16_t v) {
    update(addr, static_cast<uint8_t>(v));
    update(addr + 1, static_cast<uint8_t>(v >> 8));
  }
};
