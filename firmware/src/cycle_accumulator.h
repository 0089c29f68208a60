// Per-mains-cycle sums of interleaved voltage/current samples, fed from the sampling ISR.
//
// Samples arrive as V0 I0 V1 I1 ... (offset-removed ADC counts). A cycle ends at a rising
// zero crossing of the voltage (with hysteresis) or after kMaxCycleSamples without one.
// Completed cycles wait in a small ring for the main loop.
#pragma once
#include <stdint.h>

struct CycleSums {
  int32_t sum_v, sum_i;
  uint32_t sum_vv, sum_ii;
  int32_t sum_vi_before;  // V_k * I_k: voltage sampled before the current
  int32_t sum_vi_after;   // V_{k+1} * I_k: voltage sampled after the current
  uint16_t samples;       // V/I pairs
  uint8_t clipped;        // V/I pairs with a sample at the ADC's rail (0 or 1023 counts)
  bool crossing;          // ended at a zero crossing (else: timed out, no mains signal)
  uint32_t crossing_time;  // that crossing, in 1/256 voltage-sample periods (wraps)
};

// A cycle is clipped when more than 1/kClipShare of its V/I pairs have a sample at the
// rail: below that a sine loses under 0.03 % of its power (PROTOCOL.md §5.2, bit 3), and
// the factory front end's 230 V (325.3 V peak on a 324.5 V range) stays unflagged.
const uint8_t kClipShare = 16;
inline bool clipped(const CycleSums& c) {
  return static_cast<uint16_t>(c.clipped) * kClipShare > c.samples;
}

class CycleAccumulator {
 public:
  static const uint8_t kRing = 4;              // cycles buffered for the main loop
  static const uint16_t kMaxCycleSamples = 160;  // no crossing: close the cycle anyway
  static const int16_t kHysteresis = 4;        // counts below the mid-level to re-arm

  // `rail`: the raw sample was 0 or 1023 counts (the input may lie beyond the ADC's range).
  void add_voltage(int16_t v, bool rail = false) {
    if (have_current_) cur_.sum_vi_after += static_cast<int32_t>(v) * last_i_;
    ++clock_;
    if (armed_ && v >= level_ && last_v_ < level_) {
      const int32_t rise = static_cast<int32_t>(v) - last_v_;
      const uint32_t frac = static_cast<uint32_t>((static_cast<int32_t>(level_) - last_v_) * 256L / rise);
      close(true, ((clock_ - 1) << 8) + frac);
      armed_ = false;
    } else if (cur_.samples >= kMaxCycleSamples) {
      close(false, 0);
    }
    if (v < level_ - kHysteresis) armed_ = true;
    cur_.sum_v += v;
    cur_.sum_vv += static_cast<uint32_t>(static_cast<int32_t>(v) * v);
    ++cur_.samples;
    last_v_ = v;
    rail_ = rail;
  }

  void add_current(int16_t i, bool rail = false) {
    if ((rail || rail_) && cur_.clipped < 255) ++cur_.clipped;
    rail_ = false;
    cur_.sum_i += i;
    cur_.sum_ii += static_cast<uint32_t>(static_cast<int32_t>(i) * i);
    cur_.sum_vi_before += static_cast<int32_t>(last_v_) * i;
    last_i_ = i;
    have_current_ = true;
  }

  // Mid-level of the voltage for crossing detection, in offset-removed counts.
  void set_level(int16_t level) { level_ = level; }

  // Main loop side: takes the oldest completed cycle. Call with interrupts off on the AVR.
  bool pop(CycleSums& out) {
    if (tail_ == head_) return false;
    out = ring_[tail_];
    tail_ = static_cast<uint8_t>((tail_ + 1) % kRing);
    return true;
  }
  bool has_cycle() const { return tail_ != head_; }

 private:
  void close(bool crossing, uint32_t time) {
    cur_.crossing = crossing;
    cur_.crossing_time = time;
    const uint8_t next = static_cast<uint8_t>((head_ + 1) % kRing);
    if (next != tail_) {  // else the main loop is too far behind: the cycle is lost
      ring_[head_] = cur_;
      head_ = next;
    }
    cur_ = CycleSums();
  }

  CycleSums cur_ = CycleSums();
  CycleSums ring_[kRing];
  volatile uint8_t head_ = 0, tail_ = 0;
  uint32_t clock_ = 0;  // voltage samples so far
  int16_t last_v_ = 0, last_i_ = 0, level_ = 0;
  bool armed_ = false, have_current_ = false;
  bool rail_ = false;  // the pair's voltage sample was at the rail
};
