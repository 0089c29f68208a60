// Metering math on synthetic samples: the same sampling geometry as the AVR sampler.
#include <cmath>

#include "../src/cycle_accumulator.h"
#include "../src/power_calc.h"
#include "check.h"

namespace {

const double kTick = 1.0 / 8000;  // V at 3k ticks, I one tick later, next V two ticks later
const SampleTiming kTiming = {8000.0f / 3, 1.0f / 8000, 2.0f / 8000};
const double kVGain = 0.635, kIGain = 0.048828;  // V, A per count (factory calibration)

Calibration factory_cal() { return Calibration{635000, 48828, 512, 512, 0}; }

struct Signal {
  double v_rms, i_rms, phase_deg, freq, h3;
  double sensor_lag_deg;  // extra lag of the current front end
};

int adc(double x, double gain) {
  const double c = std::floor(512 + x / gain + 0.5);
  return c < 0 ? 0 : c > 1023 ? 1023 : static_cast<int>(c);
}

struct Result {
  Measurement last;
  double energy_j;
  double seconds;
  long cycles, clipped_cycles;
};

bool rail(int code) { return code == 0 || code >= 1023; }

Result run(const Signal& s, const Calibration& cal, double seconds) {
  CycleAccumulator acc;
  PowerCalc calc(kTiming, cal);
  Result r = {Measurement(), 0, 0, 0, 0};
  const double w = 2 * M_PI * s.freq;
  const long pairs = static_cast<long>(seconds * kTiming.sample_hz);
  for (long k = 0; k < pairs; ++k) {
    const double tv = 3 * k * kTick, ti = tv + kTick;
    const double v = s.v_rms * M_SQRT2 * std::sin(w * tv);
    const double phi = (s.phase_deg + s.sensor_lag_deg) * M_PI / 180;
    const double i = s.i_rms * M_SQRT2 * (std::sin(w * ti - phi) + s.h3 * std::sin(3 * (w * ti - phi)));
    const int cv = adc(v, kVGain), ci = adc(i, kIGain);
    acc.add_voltage(static_cast<int16_t>(cv - cal.v_offset), rail(cv));
    acc.add_current(static_cast<int16_t>(ci - cal.i_offset), rail(ci));
    CycleSums c;
    while (acc.pop(c)) {
      ++r.cycles;
      if (clipped(c)) ++r.clipped_cycles;
      r.energy_j += calc.add_cycle(c, true);
      r.seconds += c.samples / kTiming.sample_hz;
      Measurement m;
      if (calc.take(m)) {
        r.last = m;
        acc.set_level(calc.voltage_level());
      }
    }
  }
  return r;
}

}  // namespace

TEST(unity_power_factor) {
  const Result r = run({230, 5, 0, 50, 0, 0}, factory_cal(), 2.0);
  CHECK_REL(r.last.vrms, 230, 0.002);
  CHECK_REL(r.last.irms, 5, 0.002);
  CHECK_REL(r.last.power_w, 1150, 0.002);
  CHECK_REL(r.last.power_factor, 1.0, 0.002);
  CHECK_REL(r.last.freq_hz, 50, 0.0005);
}

TEST(lagging_and_low_power_factor_compensate_the_sampling_skew) {
  const Result r8 = run({230, 5, std::acos(0.8) * 180 / M_PI, 50, 0, 0}, factory_cal(), 2.0);
  CHECK_REL(r8.last.power_w, 920, 0.002);
  CHECK_REL(r8.last.power_factor, 0.8, 0.002);
  const Result r5 = run({230, 5, 60, 50, 0, 0}, factory_cal(), 2.0);
  CHECK_REL(r5.last.power_w, 575, 0.002);
}

TEST(export_gives_negative_power_and_energy) {
  const Result r = run({230, 4, 180, 50, 0, 0}, factory_cal(), 1.0);
  CHECK_REL(r.last.power_w, -920, 0.002);
  CHECK(r.energy_j < 0);
}

TEST(distorted_current_rms_includes_harmonics_power_does_not) {
  const Result r = run({230, 5, 0, 50, 0.3, 0}, factory_cal(), 2.0);
  CHECK_REL(r.last.irms, 5 * std::sqrt(1.09), 0.002);
  CHECK_REL(r.last.power_w, 1150, 0.002);
}

TEST(frequency_tracks_off_nominal_mains) {
  CHECK_REL(run({230, 5, 0, 49.5, 0, 0}, factory_cal(), 1.0).last.freq_hz, 49.5, 0.0005);
  CHECK_REL(run({230, 5, 30, 60, 0, 0}, factory_cal(), 1.0).last.power_w,
            1150 * std::cos(M_PI / 6), 0.002);
}

TEST(energy_integrates_power_over_sampled_time) {
  const Result r = run({230, 5, 0, 50, 0, 0}, factory_cal(), 10.0);
  CHECK_REL(r.energy_j, 1150 * r.seconds, 0.002);
  CHECK(r.seconds > 9.9);
}

TEST(phase_calibration_removes_a_current_sensor_lag) {
  Calibration cal = factory_cal();
  const Signal lagging = {230, 5, 60, 50, 0, 2.0};  // the sensor adds 2° of lag
  CHECK(std::fabs(run(lagging, cal, 1.0).last.power_w - 575) > 575 * 0.02);
  cal.phase_cdeg = 200;
  CHECK_REL(run(lagging, cal, 1.0).last.power_w, 575, 0.002);
}

TEST(gain_scales_readings) {
  Calibration cal = factory_cal();
  cal.v_gain_uv *= 2;
  const Result r = run({230, 5, 0, 50, 0, 0}, cal, 1.0);
  CHECK_REL(r.last.vrms, 460, 0.002);
  CHECK_REL(r.last.power_w, 2300, 0.002);
}

TEST(no_mains_closes_cycles_anyway_with_zero_frequency) {
  const Result r = run({0, 0, 0, 50, 0, 0}, factory_cal(), 1.0);
  CHECK(r.seconds > 0.9);
  CHECK_EQ(r.last.freq_hz, 0);
  CHECK(r.last.vrms < 1.0f);
}

// The clip flag's threshold (more than 1/16 of a cycle's pairs at the rail) against the
// geometry of a clipped sine: 20 A rms peaks at 28.3 A on the 25 A-peak range, about 31 %
// of the samples sit at the rail; 17 A (24.0 A peak) never reaches it; 230 V on the
// factory front end (325.3 V peak, 324.5 V range) touches it on ~4 % of the samples.
TEST(clipping_is_flagged_per_cycle_beyond_a_sixteenth_of_the_samples) {
  const Result over = run({230, 20, 0, 50, 0, 0}, factory_cal(), 1.0);
  CHECK(over.cycles >= 45);
  CHECK_EQ(over.clipped_cycles, over.cycles);
  CHECK(over.last.irms < 20 * 0.97);  // the clipped current reads low, as the flag warns
  const Result in_range = run({230, 17, 0, 50, 0, 0}, factory_cal(), 1.0);
  CHECK_EQ(in_range.clipped_cycles, 0);
  CHECK_REL(in_range.last.irms, 17, 0.003);
  const Result low = run({120, 5, 0, 60, 0, 0}, factory_cal(), 1.0);
  CHECK_EQ(low.clipped_cycles, 0);
  const Result high_v = run({240, 5, 0, 50, 0, 0}, factory_cal(), 1.0);
  CHECK_EQ(high_v.clipped_cycles, high_v.cycles);  // 339 V peak on a 324.5 V range
}

TEST(clipped_counts_pairs_with_either_sample_at_the_rail) {
  CycleAccumulator acc;
  acc.add_voltage(10, true);
  acc.add_current(0, false);
  acc.add_voltage(10, false);
  acc.add_current(0, true);
  acc.add_voltage(10, true);
  acc.add_current(0, true);  // one pair, counted once
  acc.add_voltage(10, false);
  acc.add_current(0, false);
  CycleSums c = CycleSums();
  for (uint16_t k = 0; k < CycleAccumulator::kMaxCycleSamples && !acc.pop(c); ++k) {
    acc.add_voltage(10, false);
    acc.add_current(0, false);
  }
  CHECK_EQ(c.clipped, 3);
  CHECK(!clipped(c));  // 3 of 160 pairs
  c.samples = 47;
  CHECK(clipped(c));  // 3 of 47: more than 1/16
}
