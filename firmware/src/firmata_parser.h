// Byte-by-byte parser for the host-to-meter Firmata stream (PROTOCOL.md §2).
#pragma once
#include <stdint.h>

class FirmataHandler {
 public:
  // A complete non-sysex message: status byte and up to two data bytes.
  virtual void on_message(uint8_t status, uint8_t d1, uint8_t d2) = 0;
  // A complete sysex. `septets` counts every payload septet after the command byte, even
  // beyond the buffer; `overflow` is true when they did not all fit in `payload`.
  virtual void on_sysex(uint8_t command, const uint8_t* payload, uint16_t septets,
                        bool overflow) = 0;
};

class FirmataParser {
 public:
  static const uint8_t kSysexCapacity = 128;  // payload septets kept (PROTOCOL.md §1)

  explicit FirmataParser(FirmataHandler& handler) : handler_(handler) {}
  void feed(uint8_t byte);
  uint16_t malformed() const { return malformed_; }

 private:
  void start(uint8_t status);

  FirmataHandler& handler_;
  uint8_t status_ = 0;  // 0: between messages
  uint8_t need_ = 0;    // data bytes still expected (non-sysex)
  uint8_t data_[2] = {0, 0};
  uint8_t got_ = 0;
  bool has_command_ = false;
  uint8_t command_ = 0;
  uint16_t septets_ = 0;
  uint8_t payload_[kSysexCapacity];
  uint16_t malformed_ = 0;
};
