#include "firmata_parser.h"

namespace {
const uint8_t kSysexStart = 0xF0;
const uint8_t kSysexEnd = 0xF7;

// Data bytes that follow a status byte (sysex excluded).
uint8_t data_length(uint8_t status) {
  switch (status & 0xF0) {
    case 0xE0:
    case 0x90:
      return 2;
    case 0xC0:
    case 0xD0:
      return 1;
  }
  switch (status) {
    case 0xF4:
    case 0xF5:
      return 2;
  }
  return 0;  // F9 (version query), FF (reset) and unknown status bytes
}
}  // namespace

void FirmataParser::start(uint8_t status) {
  if (status_ != 0) ++malformed_;  // the previous message was cut short
  status_ = status;
  got_ = 0;
  if (status == kSysexStart) {
    has_command_ = false;
    septets_ = 0;
    return;
  }
  need_ = data_length(status);
  if (need_ == 0) {
    status_ = 0;
    handler_.on_message(status, 0, 0);
  }
}

void FirmataParser::feed(uint8_t byte) {
  if (byte == kSysexEnd) {
    const bool complete = status_ == kSysexStart && has_command_;
    status_ = 0;
    if (complete)
      handler_.on_sysex(command_, payload_, septets_, septets_ > kSysexCapacity);
    else
      ++malformed_;
    return;
  }
  if (byte & 0x80) {
    start(byte);
    return;
  }
  if (status_ == 0) {
    ++malformed_;  // stray data byte
    return;
  }
  if (status_ == kSysexStart) {
    if (!has_command_) {
      has_command_ = true;
      command_ = byte;
    } else {
      if (septets_ < kSysexCapacity) payload_[septets_] = byte;
      if (septets_ < 0xFFFF) ++septets_;
    }
    return;
  }
  data_[got_++] = byte;
  if (got_ == need_) {
    const uint8_t status = status_;
    status_ = 0;
    handler_.on_message(status, data_[0], need_ > 1 ? data_[1] : 0);
  }
}
