#include "meter_app.h"

#include <string.h>

#include "ecdsa.h"
#include "progmem.h"
#include "sha256.h"

namespace {
// Firmata
const uint8_t kAnalogMessage = 0xE0, kDigitalMessage = 0x90, kReportAnalog = 0xC0,
              kReportDigital = 0xD0, kSetPinMode = 0xF4, kSetDigitalPin = 0xF5,
              kReportVersion = 0xF9, kSystemReset = 0xFF;
const uint8_t kStringData = 0x71, kReportFirmware = 0x79, kCapabilityQuery = 0x6B,
              kCapabilityResponse = 0x6C, kAnalogMappingQuery = 0x69,
              kAnalogMappingResponse = 0x6A, kSamplingInterval = 0x7A,
              kPinStateQuery = 0x6D, kPinStateResponse = 0x6E;
// Meter sysex (PROTOCOL.md §5)
enum : uint8_t {
  kIdentity = 0x01,
  kReading = 0x02,
  kStream = 0x03,
  kCalibration = 0x04,
  kChallenge = 0x05,
  kAuthCmd = 0x06,
  kSigner = 0x07,
  kSignedReading = 0x08,
  kError = 0x0F,
};
enum : uint8_t {
  kRelayCmd = 1,
  kSetCalibration = 2,
  kSetMeterId = 3,
  kSetKey = 4,
  kNewSigningKey = 5,
};
enum : uint8_t {
  kUnknownCommand = 1,
  kBadLength = 2,
  kBadValue = 3,
  kNoChallenge = 4,
  kBadTag = 5,
  kLockedOut = 6,
  kStorageError = 7,
};
const char kName[] PROGMEM = "gridmeter";  // in flash: 10 bytes of RAM back
const uint8_t kProtoMajor = 1, kProtoMinor = 1;
const uint8_t kFlagSigningKey = 4;  // IDENTITY flags bit 2
const uint32_t kValidAfterMs = 1000;
// Counters are saved before a reading unless the previous reading saved < 100 ms ago (so
// readings are fresh, EEPROM sees at most 10 saves/s), every 10 s, and when the relay
// switches.
const uint32_t kPersistMaxMs = 10000, kPersistBeforeReportMs = 100;
// Signed-reading seq and clock are persisted as ceilings, a step ahead: EEPROM sees one
// write per 64 signed readings and per minute of signing, and a reboot resumes at the
// ceiling (seq skips ahead, the clock jumps ahead by at most a minute; neither goes back).
const uint32_t kSeqStep = 64, kClockStepS = 60;

// Separate functions (not inlined) so their hash state is off the stack while the curve
// arithmetic runs.
__attribute__((noinline)) void derive_key(uint8_t* key, const uint8_t* seed64,
                                          const uint8_t* host_entropy) {
  for (uint8_t counter = 0;; ++counter) {
    Sha256 h;
    h.update(reinterpret_cast<const uint8_t*>("GMK1"), 4);
    h.update(seed64, 64);
    if (host_entropy) h.update(host_entropy, 32);
    h.update(&counter, 1);
    h.finish(key);
    if (ecdsa::valid_private_key(key)) return;
  }
}

void put_be(uint8_t* p, uint32_t v, uint8_t width) {  // width ≥ 4: zero-extended
  memset(p, 0, width);
  for (uint8_t i = 0; i < 4; ++i) p[width - 1 - i] = static_cast<uint8_t>(v >> (8 * i));
}

__attribute__((noinline)) void reading_digest(uint8_t* digest, const char* meter_id, uint32_t seq,
                                              uint32_t imp, uint32_t exp, uint32_t time_s) {
  uint8_t msg[64];
  memset(msg, 0, sizeof msg);
  memcpy(msg, "GBR1", 4);
  memcpy(msg + 4, meter_id, strlen(meter_id));
  put_be(msg + 36, seq, 4);
  put_be(msg + 40, imp, 8);
  put_be(msg + 48, exp, 8);
  put_be(msg + 56, time_s, 8);
  Sha256 h;
  h.update(msg, sizeof msg);
  h.finish(digest);
}

Board* busy_board = 0;
void busy_trampoline() { busy_board->busy(); }
SigningStore* key_store = 0;
void read_signing_key(uint8_t* key) { key_store->read_key(key); }

// bytes[n] septets with every MSB septet 0 or 1: the one encoding PROTOCOL.md §3 allows.
bool canonical_bytes(const uint8_t* p, uint8_t n) {
  uint8_t high = 0;
  for (uint8_t i = 0; i < n; ++i) high |= p[2 * i + 1];
  return high <= 1;
}

bool reserved(uint8_t pin) { return pin == 0 || pin == 1 || pin == MeterApp::kRelayPin; }
bool analog_pin(uint8_t pin) { return pin >= 14 && pin < MeterApp::kPins; }
bool id_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}
uint32_t clamp_u(float v, uint32_t max) {
  if (!(v > 0)) return 0;
  return v >= max ? max : static_cast<uint32_t>(v + 0.5f);
}
int32_t clamp_s(float v, int32_t max) {
  if (v >= max) return max;
  if (v <= -max) return -max;
  return static_cast<int32_t>(v < 0 ? v - 0.5f : v + 0.5f);
}
}  // namespace

__attribute__((noinline)) MeterApp::MeterApp(Board& board, ByteSink& out, Storage& storage)
    : board_(board),
      out_(out),
      store_(storage),
      log_(storage, SettingsStore::kEnd, storage.size() - SigningStore::kSize),
      signing_(storage, storage.size() - SigningStore::kSize),
      settings_(Settings::factory()) {
  memset(modes_, 0, sizeof modes_);
}

void MeterApp::begin() {
  boot_ms_ = board_.millis();
  store_.load(settings_);
  ++settings_.boot_count;
  save_settings();
  auth_.start(settings_.boot_count, settings_.failures, boot_ms_);
  signing_.init();
  signed_seq_ = signing_.seq_ceiling();
  clock_s_ = signing_.clock_ceiling();
  clock_ms_ = boot_ms_;
  busy_board = &board_;
  key_store = &signing_;
  log_.load(reported_imp_, reported_exp_);
  totals_.set(reported_imp_, reported_exp_);
  last_persist_ = last_report_save_ = boot_ms_;
  board_.set_relay(settings_.relay_closed);
  reset_pins();
  cal_changed_ = true;
  out_.raw(kReportVersion);
  out_.raw(2);
  out_.raw(6);
  send_firmware();
  send_identity();
}

void MeterApp::reset_pins() {
  for (uint8_t pin = 2; pin < kPins; ++pin)
    if (!reserved(pin)) set_pin_mode(pin, analog_pin(pin) ? Board::kAnalog : Board::kInput);
  analog_reporting_ = 0;
  digital_reporting_ = 0;
  stream_ms_ = 0;
}

void MeterApp::set_pin_mode(uint8_t pin, uint8_t mode) {
  if (pin >= kPins || reserved(pin)) return;
  if (mode == Board::kAnalog && !analog_pin(pin)) return;
  if (mode != Board::kInput && mode != Board::kOutput && mode != Board::kAnalog &&
      mode != Board::kPullup)
    return;
  uint8_t& two = modes_[pin >> 1];
  two = pin & 1 ? static_cast<uint8_t>((two & 0x0F) | mode << 4)
                : static_cast<uint8_t>((two & 0xF0) | mode);
  levels_[pin >> 3] &= static_cast<uint8_t>(~(1 << (pin & 7)));
  board_.pin_mode(pin, static_cast<Board::PinMode>(mode));
}

__attribute__((noinline)) uint8_t MeterApp::mode_of(uint8_t pin) const {
  const uint8_t two = modes_[pin >> 1];
  return pin & 1 ? two >> 4 : two & 0x0F;
}

void MeterApp::write_pin(uint8_t pin, bool high) {
  if (pin >= kPins || reserved(pin) || mode_of(pin) != Board::kOutput) return;
  const uint8_t bit = static_cast<uint8_t>(1 << (pin & 7));
  if (high)
    levels_[pin >> 3] |= bit;
  else
    levels_[pin >> 3] &= static_cast<uint8_t>(~bit);
  board_.digital_write(pin, high);
}

// PIN_STATE_RESPONSE as StandardFirmata sends it (PROTOCOL.md §4).
void MeterApp::send_pin_state(uint8_t pin) {
  out_.begin_sysex(kPinStateResponse);
  out_.u7(pin);
  if (pin < kPins) {
    const bool mine = reserved(pin);
    const uint8_t mode = mine ? 0x7F : mode_of(pin);
    out_.u7(mode);
    out_.u7(mode == Board::kPullup || (mode == Board::kOutput && (levels_[pin >> 3] >> (pin & 7)) & 1));
  }
  out_.end_sysex();
}

uint8_t MeterApp::port_value(uint8_t port) {
  uint8_t v = 0;
  for (uint8_t bit = 0; bit < 8; ++bit) {
    const uint8_t pin = port * 8 + bit;
    if (pin >= kPins || reserved(pin)) continue;
    const uint8_t mode = mode_of(pin);
    if ((mode == Board::kInput || mode == Board::kPullup) && board_.digital_read(pin))
      v |= 1 << bit;
  }
  return v;
}

void MeterApp::send_digital_port(uint8_t port) {
  const uint8_t v = port_value(port);
  last_port_[port] = v;
  out_.raw(kDigitalMessage | port);
  out_.raw(v & 0x7F);
  out_.raw(v >> 7);
}

void MeterApp::on_message(uint8_t status, uint8_t d1, uint8_t d2) {
  const uint8_t kind = status & 0xF0, low = status & 0x0F;
  if (status == kReportVersion) {
    out_.raw(kReportVersion);
    out_.raw(2);
    out_.raw(6);
  } else if (status == kSystemReset) {
    reset_pins();
    auth_.discard_nonce();
  } else if (status == kSetPinMode) {
    set_pin_mode(d1, d2);
  } else if (status == kSetDigitalPin) {
    write_pin(d1, d2);
  } else if (kind == kDigitalMessage) {
    const uint8_t mask = static_cast<uint8_t>(d1 | d2 << 7);
    for (uint8_t bit = 0; bit < 8; ++bit) write_pin(low * 8 + bit, mask & (1 << bit));
  } else if (kind == kReportAnalog) {
    if (low < 6) {
      if (d1) analog_reporting_ |= 1 << low;
      else analog_reporting_ &= ~(1 << low);
    }
  } else if (kind == kReportDigital) {
    if (low < 3) {
      if (d1) {
        digital_reporting_ |= 1 << low;
        send_digital_port(low);
      } else {
        digital_reporting_ &= ~(1 << low);
      }
    }
  }
  // ANALOG_MESSAGE (analog write) and unknown status bytes: nothing to do on a meter.
}

void MeterApp::on_sysex(uint8_t command, const uint8_t* payload, uint16_t septets,
                        bool overflow) {
  if (overflow) {
    send_error(kBadLength, command, septets > 16383 ? 16383 : septets);
    return;
  }
  switch (command) {
    case kReportFirmware:
      send_firmware();
      return;
    case kCapabilityQuery:
      send_capabilities();
      return;
    case kAnalogMappingQuery:
      send_analog_mapping();
      return;
    case kSamplingInterval:
      if (septets == 2) {
        const uint16_t ms = static_cast<uint16_t>(read_u(payload, 2));
        sampling_ms_ = ms < 1 ? 1 : ms;
      }
      return;
    case kStringData:
      return;
    case kPinStateQuery:
      if (septets) send_pin_state(payload[0]);
      return;
  }
  if (command >= 0x01 && command <= 0x0F) handle_meter(command, payload, septets);
}

void MeterApp::handle_meter(uint8_t command, const uint8_t* payload, uint16_t septets) {
  const uint8_t expected = command == kStream ? 2 : 0;
  if (command != kAuthCmd && command <= kSignedReading && septets != expected) {
    send_error(kBadLength, command, septets);
    return;
  }
  switch (command) {
    case kIdentity:
      send_identity();
      break;
    case kReading:
      send_reading();
      break;
    case kStream: {
      const uint16_t ms = static_cast<uint16_t>(read_u(payload, 2));
      stream_ms_ = ms == 0 ? 0 : (ms < 10 ? 10 : ms);
      last_stream_ = board_.millis();
      break;
    }
    case kCalibration:
      send_calibration();
      break;
    case kChallenge: {
      const uint32_t now = board_.millis();
      uint8_t nonce[Auth::kNonceSize];
      if (!auth_.challenge(now, board_.entropy(), nonce)) {
        send_error(kLockedOut, kChallenge, auth_.lockout_remaining_s(now));
        break;
      }
      out_.begin_sysex(kChallenge);
      out_.bytes(nonce, sizeof nonce);
      out_.end_sysex();
      break;
    }
    case kAuthCmd:
      handle_auth(payload, static_cast<uint8_t>(septets));
      break;
    case kSigner:
      signer_pending_ = true;
      break;
    case kSignedReading:
      sign_pending_ = true;
      break;
    default:
      send_error(kUnknownCommand, command, 0);
  }
}

__attribute__((noinline)) void MeterApp::handle_auth(const uint8_t* payload, uint8_t septets) {
  const uint32_t now = board_.millis();
  const uint8_t tag_septets = 2 * Auth::kTagSize;
  if (auth_.locked_out(now)) {
    send_error(kLockedOut, kAuthCmd, auth_.lockout_remaining_s(now));
    return;
  }
  if (septets < 1 + tag_septets) {
    send_error(kBadLength, kAuthCmd, septets);
    return;
  }
  const uint8_t msg_len = static_cast<uint8_t>(septets - tag_septets + 1);
  uint8_t tag[Auth::kTagSize];
  read_bytes(payload + msg_len - 1, Auth::kTagSize, tag);
  const uint8_t failures_before = auth_.failures();
  const Auth::Result r = auth_.verify(settings_.key, kAuthCmd, payload, msg_len - 1, tag, now,
                                      canonical_bytes(payload + msg_len - 1, Auth::kTagSize));
  if (auth_.failures() != failures_before) {
    settings_.failures = auth_.failures();
    save_settings();
  }
  if (r == Auth::kNoChallenge) {
    send_error(kNoChallenge, kAuthCmd, 0);
    return;
  }
  if (r == Auth::kBadTag) {
    send_error(kBadTag, kAuthCmd, auth_.failures());
    return;
  }
  if (r == Auth::kLockedOut) {
    send_error(kLockedOut, kAuthCmd, auth_.lockout_remaining_s(now));
    return;
  }
  const uint8_t cmd = payload[0];
  uint16_t detail = 0;
  const uint8_t code = apply_auth_command(cmd, payload + 1, msg_len - 2, detail);
  if (code == 0xFF) return;  // acknowledged later
  if (code) {
    send_error(code, kAuthCmd, detail);
    return;
  }
  out_.begin_sysex(kAuthCmd);
  out_.u7(cmd);
  out_.u7(0);
  out_.end_sysex();
}

// Returns 0 on success, 0xFF when poll() finishes it and answers, else an error code (with
// `detail`).
__attribute__((noinline)) uint8_t MeterApp::apply_auth_command(uint8_t cmd, const uint8_t* args, uint8_t n,
                                     uint16_t& detail) {
  const uint16_t received = static_cast<uint16_t>(n + 1 + 2 * Auth::kTagSize);
  Settings next = settings_;
  switch (cmd) {
    case kRelayCmd:
      if (n != 1) return detail = received, kBadLength;
      if (args[0] > 1) return detail = 1, kBadValue;
      next.relay_closed = args[0] == 1;
      break;
    case kSetCalibration: {
      if (n != 14) return detail = received, kBadLength;
      next.cal.v_gain_uv = read_u(args, 4);
      next.cal.i_gain_ua = read_u(args + 4, 4);
      next.cal.v_offset = static_cast<uint16_t>(read_u(args + 8, 2));
      next.cal.i_offset = static_cast<uint16_t>(read_u(args + 10, 2));
      next.cal.phase_cdeg = static_cast<int16_t>(read_s(args + 12, 2));
      if (next.cal.v_gain_uv == 0) return detail = 1, kBadValue;
      if (next.cal.i_gain_ua == 0) return detail = 2, kBadValue;
      if (next.cal.v_offset > 1023) return detail = 3, kBadValue;
      if (next.cal.i_offset > 1023) return detail = 4, kBadValue;
      next.flags |= Settings::kFlagCalibrated;
      break;
    }
    case kSetMeterId:
      if (n < 1 || n > Settings::kMaxIdLength) return detail = 1, kBadValue;
      for (uint8_t i = 0; i < n; ++i) {
        if (!id_char(static_cast<char>(args[i]))) return detail = 1, kBadValue;
        next.meter_id[i] = static_cast<char>(args[i]);
      }
      next.meter_id[n] = 0;
      break;
    case kSetKey: {
      if (n != 2 * Settings::kKeySize) return detail = received, kBadLength;
      if (!canonical_bytes(args, Settings::kKeySize)) return detail = 1, kBadValue;
      read_bytes(args, Settings::kKeySize, next.key);
      uint8_t any = 0;
      for (uint8_t i = 0; i < Settings::kKeySize; ++i) any |= next.key[i];
      if (any)
        next.flags |= Settings::kFlagKeyProvisioned;
      else
        next.flags &= ~Settings::kFlagKeyProvisioned;
      break;
    }
    case kNewSigningKey: {
      if (n != 2 * 32) return detail = received, kBadLength;
      if (!canonical_bytes(args, sizeof rekey_entropy_)) return detail = 1, kBadValue;
      read_bytes(args, sizeof rekey_entropy_, rekey_entropy_);
      rekey_pending_ = true;  // poll() makes the key and then acknowledges
      return 0xFF;
    }
    default:
      return kUnknownCommand;
  }
  const Settings before = settings_;
  settings_ = next;
  if (!save_settings()) {
    settings_ = before;
    return kStorageError;
  }
  if (cmd == kRelayCmd) {
    board_.set_relay(settings_.relay_closed);
    persist(board_.millis());
  }
  if (cmd == kSetCalibration) {
    // The last measurement as the new gains read the same samples.
    measurement_.vrms *= static_cast<float>(next.cal.v_gain_uv) / before.cal.v_gain_uv;
    measurement_.irms *= static_cast<float>(next.cal.i_gain_ua) / before.cal.i_gain_ua;
    measurement_.power_w *= static_cast<float>(next.cal.v_gain_uv) / before.cal.v_gain_uv *
                            next.cal.i_gain_ua / before.cal.i_gain_ua;
    cal_changed_ = true;
  }
  return 0;
}

bool MeterApp::save_settings() { return store_.save(settings_); }

void MeterApp::send_error(uint8_t code, uint8_t command, uint16_t detail) {
  out_.begin_sysex(kError);
  out_.u7(code);
  out_.u7(command);
  out_.u(detail, 2);
  out_.end_sysex();
}

void MeterApp::send_firmware() {
  out_.begin_sysex(kReportFirmware);
  out_.u7(kFwMajor);
  out_.u7(kFwMinor);
  for (uint8_t i = 0; i < sizeof kName - 1; ++i) {
    const uint8_t c = pgm_read_byte(kName + i);
    out_.u7(c & 0x7F);
    out_.u7(c >> 7);
  }
  out_.end_sysex();
}

void MeterApp::send_identity() {
  out_.begin_sysex(kIdentity);
  out_.u7(kProtoMajor);
  out_.u7(kProtoMinor);
  out_.u7(kFwMajor);
  out_.u7(kFwMinor);
  out_.u7(kFwPatch);
  out_.u(settings_.boot_count & 0x3FFF, 2);
  out_.u7((settings_.flags & 3) | (signing_.has_key() ? kFlagSigningKey : 0));
  for (const char* c = settings_.meter_id; *c; ++c) out_.u7(static_cast<uint8_t>(*c));
  out_.end_sysex();
}

void MeterApp::send_calibration() {
  out_.begin_sysex(kCalibration);
  out_.u(settings_.cal.v_gain_uv, 4);
  out_.u(settings_.cal.i_gain_ua, 4);
  out_.u(settings_.cal.v_offset, 2);
  out_.u(settings_.cal.i_offset, 2);
  out_.u(static_cast<uint16_t>(settings_.cal.phase_cdeg), 2);
  out_.end_sysex();
}

__attribute__((noinline)) void MeterApp::send_reading() {
  const uint32_t now = board_.millis();
  // Rate-limited on readings only: a periodic save just before must not make it stale.
  if (totals_.mwh_since_mark() > 0 && now - last_report_save_ >= kPersistBeforeReportMs) {
    last_report_save_ = now;
    persist(now);
  }
  const bool clipped = clipped_ || measurement_clipped_;
  clipped_ = false;
  const bool valid = measured_ && now - boot_ms_ >= kValidAfterMs && !clipped;
  const Measurement& m = measurement_;
  const bool closed = settings_.relay_closed;
  uint8_t flags = 0;
  if (closed) flags |= 1;
  if (valid) flags |= 2;
  if (auth_.locked_out(now)) flags |= 4;
  if (clipped) flags |= 8;
  out_.begin_sysex(kReading);
  out_.u(seq_, 4);
  seq_ = (seq_ + 1) & 0x0FFFFFFFUL;
  out_.u(settings_.boot_count & 0x3FFF, 2);
  out_.u7(flags);
  out_.u(clamp_u(m.vrms * 100, 0x1FFFFF), 3);
  out_.u(closed ? clamp_u(m.irms * 1000, 0x1FFFFF) : 0, 3);
  out_.u(static_cast<uint32_t>(closed ? clamp_s(m.power_w * 10, 0x7FFFFFF) : 0), 4);
  out_.u(static_cast<uint32_t>(closed ? clamp_s(m.power_factor * 1000, 1000) : 0), 2);
  out_.u(clamp_u(m.freq_hz * 100, 0x3FFF), 2);
  out_.u(reported_imp_.wh, 5);
  out_.u(reported_imp_.mwh, 2);
  out_.u(reported_exp_.wh, 5);
  out_.u(reported_exp_.mwh, 2);
  out_.end_sysex();
}

void MeterApp::send_capabilities() {
  out_.begin_sysex(kCapabilityResponse);
  for (uint8_t pin = 0; pin < kPins; ++pin) {
    if (!reserved(pin)) {
      if (analog_pin(pin)) {
        out_.u7(Board::kAnalog);
        out_.u7(10);
      }
      out_.u7(Board::kInput);
      out_.u7(1);
      out_.u7(Board::kOutput);
      out_.u7(1);
      out_.u7(Board::kPullup);
      out_.u7(1);
    }
    out_.u7(0x7F);
  }
  out_.end_sysex();
}

void MeterApp::send_analog_mapping() {
  out_.begin_sysex(kAnalogMappingResponse);
  for (uint8_t pin = 0; pin < kPins; ++pin) out_.u7(analog_pin(pin) ? pin - 14 : 0x7F);
  out_.end_sysex();
}

// Saves the counters; only what was saved is ever reported (PROTOCOL.md §5.2). If the
// EEPROM refuses, readings keep the last saved values and the next save retries.
void MeterApp::persist(uint32_t now) {
  last_persist_ = now;
  const EnergyCount imp = totals_.imported(), exp = totals_.exported();
  if (!log_.save(imp, exp)) return;
  totals_.mark();
  reported_imp_ = imp;
  reported_exp_ = exp;
}

// The first key is made on the first SIGNER or SIGNED_READING request (a fresh meter's
// first answer takes one key generation longer, ~3 s), never during the boot handshake.
// key = SHA-256("GMK1" ‖ the board's entropy pool ‖ host entropy ‖ the old key ‖ counter),
// the first such value in [1, n − 1]. The public key is computed once and stored with it.
__attribute__((noinline)) bool MeterApp::make_signing_key(const uint8_t* host_entropy) {
  uint8_t key[32], pub[64];
  board_.entropy_pool(pub);  // pub doubles as the seed buffer until the key is made
  if (signing_.has_key()) signing_.read_key(pub + 32);
  derive_key(key, pub, host_entropy);
  ecdsa::public_key(pub, key, busy_trampoline);
  const bool ok = signing_.save_key(key, pub);
  memset(key, 0, sizeof key);
  return ok;
}

bool MeterApp::ensure_signing_key() {
  if (signing_.has_key()) return true;
  if (make_signing_key(0)) return true;
  send_error(kStorageError, kSigner, 0);
  return false;
}

// Both run with the key in place (poll() makes it first).
__attribute__((noinline)) void MeterApp::send_signer() {
  uint8_t pub[64];
  signing_.read_public(pub);
  out_.begin_sysex(kSigner);
  out_.bytes(pub, sizeof pub);
  out_.end_sysex();
}


// The message of bench/attestation.py: "GBR1" ‖ meter_id bytes32 ‖ seq u32 ‖ import_wh u64
// ‖ export_wh u64 ‖ time_s u64, big-endian; signed over its SHA-256.
__attribute__((noinline)) void MeterApp::send_signed_reading() {
  const uint32_t now = board_.millis();
  if (totals_.mwh_since_mark() > 0 && now - last_report_save_ >= kPersistBeforeReportMs) {
    last_report_save_ = now;
    persist(now);
  }
  const uint32_t seq = signed_seq_ + 1;
  if (seq > signing_.seq_ceiling() && !signing_.set_seq_ceiling(seq + kSeqStep - 1)) {
    send_error(kStorageError, kSignedReading, 0);
    return;
  }
  signed_seq_ = seq;
  const uint32_t time_s = clock_s_;
  if (time_s > signing_.clock_ceiling() && !signing_.set_clock_ceiling(time_s + kClockStepS)) {
    send_error(kStorageError, kSignedReading, 0);
    return;
  }
  const uint32_t imp = reported_imp_.wh, exp = reported_exp_.wh;
  uint8_t digest[32], r[32], s[32], recid;
  board_.busy();  // the EEPROM writes above took a while
  reading_digest(digest, settings_.meter_id, seq, imp, exp, time_s);
  ecdsa::sign(r, s, recid, read_signing_key, digest, busy_trampoline);
  out_.begin_sysex(kSignedReading);
  out_.u(seq, 5);
  out_.u(imp, 5);
  out_.u(exp, 5);
  out_.u(time_s, 5);
  out_.bytes(r, 32);
  out_.bytes(s, 32);
  out_.u7(27 + recid);
  out_.end_sysex();
}

void MeterApp::poll() {
  const uint32_t now = board_.millis();
  while (now - clock_ms_ >= 1000) {
    clock_ms_ += 1000;
    ++clock_s_;
  }
  if (rekey_pending_) {
    rekey_pending_ = false;
    const bool ok = make_signing_key(rekey_entropy_);
    memset(rekey_entropy_, 0, sizeof rekey_entropy_);
    if (ok) {
      out_.begin_sysex(kAuthCmd);
      out_.u7(kNewSigningKey);
      out_.u7(0);
      out_.end_sysex();
    } else {
      send_error(kStorageError, kAuthCmd, 0);
    }
  }
  // A first key is made here, not inside send_signer() or send_signed_reading(): their
  // frames stay off the stack of the key generation.
  if ((signer_pending_ || sign_pending_) && !ensure_signing_key()) {
    signer_pending_ = sign_pending_ = false;
  }
  if (signer_pending_) {
    signer_pending_ = false;
    send_signer();
  }
  if (sign_pending_) {
    sign_pending_ = false;
    send_signed_reading();
  }
  if (totals_.mwh_since_mark() > 0 && now - last_persist_ >= kPersistMaxMs) persist(now);
  if (analog_reporting_ && now - last_sample_ >= sampling_ms_) {
    last_sample_ = now;
    for (uint8_t ch = 0; ch < 6; ++ch) {
      if (!(analog_reporting_ & (1 << ch))) continue;
      const uint16_t v = board_.analog_read(ch);
      out_.raw(kAnalogMessage | ch);
      out_.raw(v & 0x7F);
      out_.raw(v >> 7);
    }
  }
  for (uint8_t port = 0; port < 3; ++port)
    if ((digital_reporting_ & (1 << port)) && port_value(port) != last_port_[port])
      send_digital_port(port);
  if (stream_ms_ && now - last_stream_ >= stream_ms_) {
    last_stream_ += stream_ms_;
    if (now - last_stream_ >= stream_ms_) last_stream_ = now;  // fell behind: no burst
    send_reading();
  }
}
