#include "power_calc.h"

#include <math.h>

namespace {
const float kTwoPi = 6.2831853f;
const float kDegToRad = 0.017453293f;
}  // namespace

PowerCalc::PowerCalc(const SampleTiming& timing, const Calibration& cal) : timing_(timing) {
  set_calibration(cal);
}

void PowerCalc::set_calibration(const Calibration& cal) {
  cal_ = cal;
  v_scale_ = cal.v_gain_uv * 1e-6f;
  i_scale_ = cal.i_gain_ua * 1e-6f;
  update_weights(freq_hz_);
}

// Voltage at the current's sampling instant, from the voltage samples before and after it,
// corrected for the fundamental: with a = ω·lead, b = ω·lag and d the current channel's
// lag, P = VI·cos(φ − d) = (sin(b + d)·S_before + sin(a − d)·S_after) / sin(a + b).
void PowerCalc::update_weights(float freq_hz) {
  const float w = kTwoPi * freq_hz;
  const float a = w * timing_.lead_s, b = w * timing_.lag_s;
  const float d = cal_.phase_cdeg * 0.01f * kDegToRad;
  const float s = sinf(a + b);
  if (s > 1e-4f) {
    w_before_ = sinf(b + d) / s;
    w_after_ = sinf(a - d) / s;
  } else {  // no mains frequency: plain linear interpolation
    const float t = timing_.lead_s + timing_.lag_s;
    w_before_ = timing_.lag_s / t;
    w_after_ = timing_.lead_s / t;
  }
}

float PowerCalc::add_cycle(const CycleSums& c, bool relay_closed) {
  if (c.samples == 0) return 0.0f;
  const float n = c.samples;
  const float mean_v = c.sum_v / n, mean_i = c.sum_i / n;
  const float s_before = c.sum_vi_before / n - mean_v * mean_i;
  const float s_after = c.sum_vi_after / n - mean_v * mean_i;
  const float power_counts = relay_closed ? w_before_ * s_before + w_after_ * s_after : 0.0f;

  sum_v_ += c.sum_v;
  sum_i_ += c.sum_i;
  sum_vv_ += c.sum_vv;
  sum_ii_ += c.sum_ii;
  power_counts_ += power_counts * n;
  samples_ += c.samples;
  relay_closed_ = relay_closed;
  if (c.crossing) {
    if (have_crossing_) ++crossings_;
    else window_start_crossing_ = c.crossing_time;
    have_crossing_ = true;
    last_crossing_ = c.crossing_time;
  }
  if (++cycles_ >= kWindowCycles) {
    const float total = samples_;
    const float mv = sum_v_ / total, mi = sum_i_ / total;
    const float var_v = sum_vv_ / total - mv * mv, var_i = sum_ii_ / total - mi * mi;
    Measurement m;
    m.vrms = var_v > 0 ? sqrtf(var_v) * v_scale_ : 0.0f;
    m.irms = relay_closed_ && var_i > 0 ? sqrtf(var_i) * i_scale_ : 0.0f;
    m.power_w = power_counts_ / total * v_scale_ * i_scale_;
    const float va = m.vrms * m.irms;
    m.power_factor = va > 0 ? m.power_w / va : 0.0f;
    if (m.power_factor > 1) m.power_factor = 1;
    if (m.power_factor < -1) m.power_factor = -1;
    m.freq_hz = 0;
    if (crossings_ > 0) {
      const uint32_t span = last_crossing_ - window_start_crossing_;
      m.freq_hz = crossings_ * 256.0f * timing_.sample_hz / span;
      window_start_crossing_ = last_crossing_;
      crossings_ = 0;
      if (fabsf(m.freq_hz - freq_hz_) > 0.01f) {
        freq_hz_ = m.freq_hz;
        update_weights(freq_hz_);
      }
    } else {
      have_crossing_ = false;
    }
    level_ = static_cast<int16_t>(lroundf(mv));
    last_ = m;
    ready_ = true;
    sum_v_ = sum_i_ = sum_vv_ = sum_ii_ = 0;
    power_counts_ = 0;
    samples_ = 0;
    cycles_ = 0;
  }
  return power_counts * v_scale_ * i_scale_ * n / timing_.sample_hz;
}

bool PowerCalc::take(Measurement& m) {
  if (!ready_) return false;
  m = last_;
  ready_ = false;
  return true;
}
