#include "sampler.h"

#include <avr/interrupt.h>
#include <avr/io.h>
#include <util/atomic.h>

namespace {
CycleAccumulator accumulator;
inline bool at_rail(uint16_t raw) { return raw == 0 || raw >= 1023; }
volatile uint16_t latest_raw[6];
volatile int16_t v_offset = 512, i_offset = 512;

// Each tick reads the conversion the previous tick started, then starts the next one;
// the sample instant is the tick (a fixed delay after it on real hardware).
inline void start_conversion(uint8_t channel) {
  ADMUX = _BV(REFS0) | channel;  // AVcc reference
  ADCSRA |= _BV(ADSC);
}
}  // namespace

ISR(TIMER1_COMPA_vect) {
  static uint8_t slot = 0;     // 0: V in flight, 1: I in flight, 2: auxiliary in flight
  static uint8_t aux = 2;      // auxiliary channel in turn
  const uint16_t raw = ADC;
  if (slot == 0) {
    latest_raw[0] = raw;
    start_conversion(1);
    accumulator.add_voltage(static_cast<int16_t>(raw) - v_offset, at_rail(raw));
    slot = 1;
  } else if (slot == 1) {
    latest_raw[1] = raw;
    start_conversion(aux);
    accumulator.add_current(static_cast<int16_t>(raw) - i_offset, at_rail(raw));
    slot = 2;
  } else {
    latest_raw[aux] = raw;
    start_conversion(0);
    aux = aux == 5 ? 2 : aux + 1;
    slot = 0;
  }
}

namespace sampler {

void begin() {
  DIDR0 = _BV(ADC0D) | _BV(ADC1D);
  ADCSRA = _BV(ADEN) | _BV(ADPS2) | _BV(ADPS1) | _BV(ADPS0);  // 125 kHz ADC clock
  ADMUX = _BV(REFS0);
  ADCSRA |= _BV(ADSC);  // the first (longer) conversion, outside the schedule
  while (ADCSRA & _BV(ADSC)) {
  }
  start_conversion(0);
  TCCR1A = 0;
  TCCR1B = _BV(WGM12) | _BV(CS10);  // CTC, no prescaler
  OCR1A = F_CPU / kTickHz - 1;
  TCNT1 = 0;
  TIMSK1 = _BV(OCIE1A);
}

void set_offsets(uint16_t v, uint16_t i) {
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) {
    v_offset = static_cast<int16_t>(v);
    i_offset = static_cast<int16_t>(i);
  }
}

void set_level(int16_t level) {
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { accumulator.set_level(level); }
}

bool pop(CycleSums& c) {
  bool got;
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { got = accumulator.pop(c); }
  return got;
}

bool pending() { return accumulator.has_cycle(); }

uint16_t latest(uint8_t channel) {
  uint16_t v;
  ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { v = latest_raw[channel]; }
  return v;
}

SampleTiming timing() {
  SampleTiming t;
  t.sample_hz = kTickHz / 3.0f;
  t.lead_s = 1.0f / kTickHz;
  t.lag_s = 2.0f / kTickHz;
  return t;
}

}  // namespace sampler
