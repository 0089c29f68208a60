// Packing of values into 7-bit septets (PROTOCOL.md §3) and a sink for outgoing bytes.
#pragma once
#include <stdint.h>

class ByteSink {
 public:
  virtual void write(uint8_t byte) = 0;
};

// Writes Firmata messages; field helpers follow the uN / sN / bytes[n] packings.
class Writer {
 public:
  explicit Writer(ByteSink& sink) : sink_(sink) {}
  void raw(uint8_t byte) { sink_.write(byte); }
  void begin_sysex(uint8_t command) {
    raw(0xF0);
    raw(command);
  }
  void end_sysex() { raw(0xF7); }
  void u7(uint8_t v) { raw(v & 0x7F); }
  // Unsigned (or two's complement signed) value in `septets` septets, little-endian.
  void u(uint32_t v, uint8_t septets);
  void bytes(const uint8_t* p, uint8_t n);

 private:
  ByteSink& sink_;
};

// Reads `septets` septets little-endian.
inline uint32_t read_u(const uint8_t* p, uint8_t septets) {
  uint32_t v = 0;
  for (uint8_t i = septets; i > 0; --i) v = (v << 7) | (p[i - 1] & 0x7F);
  return v;
}

// Sign-extends an N-bit two's complement value.
inline int32_t read_s(const uint8_t* p, uint8_t septets) {
  const uint8_t bits = 7 * septets;
  uint32_t v = read_u(p, septets);
  if (v & (1UL << (bits - 1))) v |= ~((1UL << bits) - 1);
  return static_cast<int32_t>(v);
}

// Decodes bytes[n] (two septets per byte).
inline void read_bytes(const uint8_t* p, uint8_t n, uint8_t* out) {
  for (uint8_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(p[2 * i] | (p[2 * i + 1] << 7));
}
