// What the meter application needs from the hardware (the AVR, or a fake in host tests).
// Pins use Firmata numbering: 0–13 digital, 14–19 = A0–A5.
#pragma once
#include <stdint.h>

class Board {
 public:
  enum PinMode : uint8_t { kInput = 0, kOutput = 1, kAnalog = 2, kPullup = 0x0B };

  virtual uint32_t millis() = 0;
  virtual void set_relay(bool closed) = 0;
  virtual void pin_mode(uint8_t pin, PinMode mode) = 0;
  virtual void digital_write(uint8_t pin, bool high) = 0;
  virtual bool digital_read(uint8_t pin) = 0;
  virtual uint16_t analog_read(uint8_t channel) = 0;  // latest 10-bit sample
  virtual uint32_t entropy() = 0;                     // a few unpredictable bits
  // SHA-256 over many noisy samples (ADC noise, timer jitter): a 32-byte seed.
  virtual void entropy_pool(uint8_t* seed) = 0;
  // Called often during long computations (a signature): keep metering and the watchdog
  // going.
  virtual void busy() {}
};
