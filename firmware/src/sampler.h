// Timer-paced ADC sampling on the AVR: V (A0), I (A1), then one of A2–A5, in turn.
#pragma once
#include <stdint.h>

#include "cycle_accumulator.h"
#include "power_calc.h"

namespace sampler {

const uint32_t kTickHz = 8000;  // one conversion per tick: 2667 Hz per metering channel

void begin();
// Offset-removed samples: raw − offset.
void set_offsets(uint16_t v_offset, uint16_t i_offset);
void set_level(int16_t level);
bool pop(CycleSums& c);
bool pending();
uint16_t latest(uint8_t channel);
SampleTiming timing();

}  // namespace sampler
