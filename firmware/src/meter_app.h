// The meter as a Firmata device: standard messages, meter sysex commands, authenticated
// relay, persistent counters, meter-signed readings (PROTOCOL.md v1.1). Hardware-free; the sketch wires it up.
#pragma once
#include <stdint.h>

#include "auth.h"
#include "board.h"
#include "energy_log.h"
#include "firmata_parser.h"
#include "power_calc.h"
#include "septets.h"
#include "settings.h"
#include "signing_store.h"

class MeterApp : public FirmataHandler {
 public:
  static const uint8_t kPins = 20;
  static const uint8_t kRelayPin = 7;
  static const uint8_t kFwMajor = 1, kFwMinor = 0, kFwPatch = 0;

  MeterApp(Board& board, ByteSink& out, Storage& storage);

  // Loads settings and counters, counts the boot, sends the boot announcement.
  void begin();
  // Periodic work: analog/digital reports, streaming, persistence deadlines.
  void poll();
  // From the metering loop.
  void add_energy(float joules) { totals_.add_joules(joules); }
  // `clipped`: a cycle of the measurement's window clipped (its values read low).
  void set_measurement(const Measurement& m, bool clipped = false) {
    measurement_ = m;
    measured_ = true;
    measurement_clipped_ = clipped;
  }
  // A mains cycle clipped at the ADC's rail: the next READING says so (flags bit 3), as
  // does every READING whose values come from a window with a clipped cycle.
  void note_clipped() { clipped_ = true; }
  bool relay_closed() const { return settings_.relay_closed; }
  const Calibration& calibration() const { return settings_.cal; }
  bool calibration_changed() {
    const bool c = cal_changed_;
    cal_changed_ = false;
    return c;
  }

  void on_message(uint8_t status, uint8_t d1, uint8_t d2) override;
  void on_sysex(uint8_t command, const uint8_t* payload, uint16_t septets,
                bool overflow) override;

 private:
  void send_firmware();
  void send_identity();
  void send_reading();
  void send_calibration();
  void send_capabilities();
  void send_analog_mapping();
  void send_signer();
  void send_signed_reading();
  bool make_signing_key(const uint8_t* host_entropy);
  bool ensure_signing_key();
  void send_error(uint8_t code, uint8_t command, uint16_t detail);
  void send_digital_port(uint8_t port);
  void handle_meter(uint8_t command, const uint8_t* payload, uint16_t septets);
  void handle_auth(const uint8_t* payload, uint8_t septets);
  uint8_t apply_auth_command(uint8_t cmd, const uint8_t* args, uint8_t n, uint16_t& detail);
  void set_pin_mode(uint8_t pin, uint8_t mode);
  void write_pin(uint8_t pin, bool high);  // OUTPUT pins only
  void send_pin_state(uint8_t pin);
  void reset_pins();
  void persist(uint32_t now);
  bool save_settings();
  uint8_t port_value(uint8_t port);

  Board& board_;
  Writer out_;
  SettingsStore store_;
  EnergyLog log_;
  SigningStore signing_;
  Settings settings_;
  Auth auth_;
  EnergyTotals totals_;
  EnergyCount reported_imp_ = {0, 0}, reported_exp_ = {0, 0};  // last persisted
  Measurement measurement_ = Measurement();
  bool measured_ = false;
  bool clipped_ = false;  // a cycle clipped since the last READING frame
  bool measurement_clipped_ = false;  // the window measurement_ comes from clipped
  bool cal_changed_ = false;
  uint32_t boot_ms_ = 0, last_persist_ = 0, last_report_save_ = 0;
  uint32_t seq_ = 0;
  // Curve work runs from poll(), not from inside the parser's call chain (stack depth).
  bool sign_pending_ = false, signer_pending_ = false, rekey_pending_ = false;
  uint8_t rekey_entropy_[32];
  uint32_t signed_seq_ = 0;            // last signed-reading seq
  uint32_t clock_s_ = 0, clock_ms_ = 0;  // meter clock: seconds, and the millis() of its last tick
  uint16_t stream_ms_ = 0;
  uint32_t last_stream_ = 0;
  uint16_t sampling_ms_ = 19;
  uint32_t last_sample_ = 0;
  uint8_t analog_reporting_ = 0;  // bit per channel
  uint8_t digital_reporting_ = 0;  // bit per port
  uint8_t last_port_[3] = {0, 0, 0};
  // Pin modes, two per byte (every mode fits 4 bits: 0, 1, 2, 0x0B): 10 bytes of RAM.
  uint8_t modes_[kPins / 2];
  uint8_t mode_of(uint8_t pin) const;
  uint8_t levels_[3] = {0, 0, 0};  // bit per pin: the level last written to an OUTPUT pin
};
