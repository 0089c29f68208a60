// From cycle sums to Vrms, Irms, real power, power factor, frequency and energy.
#pragma once
#include <stdint.h>

#include "cycle_accumulator.h"

struct Calibration {
  uint32_t v_gain_uv;  // µV per ADC count
  uint32_t i_gain_ua;  // µA per ADC count
  uint16_t v_offset;   // ADC counts at zero volts
  uint16_t i_offset;   // ADC counts at zero amps
  int16_t phase_cdeg;  // extra lag of the current front end, 0.01°; removed
};

struct Measurement {
  float vrms, irms, power_w, power_factor, freq_hz;
};

// Sampling geometry: voltage samples at `sample_hz`; each current sample follows its
// voltage sample by `lead_s` and precedes the next voltage sample by `lag_s`.
struct SampleTiming {
  float sample_hz, lead_s, lag_s;
};

class PowerCalc {
 public:
  static const uint8_t kWindowCycles = 10;  // cycles per published measurement

  PowerCalc(const SampleTiming& timing, const Calibration& cal);
  void set_calibration(const Calibration& cal);

  // Adds one cycle; returns its energy in joules (signed: + import, − export).
  // With the relay open, current and power are taken as zero.
  float add_cycle(const CycleSums& c, bool relay_closed);

  // True once a new window is complete; `m` then holds its measurement.
  bool take(Measurement& m);
  // Mean voltage level of the last window (offset-removed counts) for crossing detection.
  int16_t voltage_level() const { return level_; }

 private:
  void update_weights(float freq_hz);

  SampleTiming timing_;
  Calibration cal_;
  float v_scale_, i_scale_;  // volts, amps per count
  float w_before_, w_after_;  // weights of the two V·I sums (phase and skew correction)
  float freq_hz_ = 50.0f;
  // window in progress
  int64_t sum_v_ = 0, sum_i_ = 0, sum_vv_ = 0, sum_ii_ = 0;
  float power_counts_ = 0;  // sum over cycles of P (counts²) × samples
  uint32_t samples_ = 0;
  uint8_t cycles_ = 0, crossings_ = 0;
  bool relay_closed_ = true;
  bool have_crossing_ = false;
  uint32_t last_crossing_ = 0, window_start_crossing_ = 0;
  int16_t level_ = 0;
  bool ready_ = false;
  Measurement last_ = Measurement();
};
