// gridmeter: the meter sketch. Wires the AVR (UART, EEPROM, pins, ADC sampler) to the
// hardware-free meter application and sleeps whenever there is nothing to do.
#include <Arduino.h>
#include <avr/eeprom.h>
#include <avr/sleep.h>
#include <avr/wdt.h>

#include "meter_app.h"
#include "sampler.h"
#include "sha256.h"

namespace {

const uint8_t kRelayArduinoPin = 7;  // HIGH: relay closed (supply connected)

uint8_t arduino_pin(uint8_t pin) { return pin < 14 ? pin : A0 + (pin - 14); }

class SerialSink : public ByteSink {
 public:
  void write(uint8_t byte) override { Serial.write(byte); }
};

class EepromStorage : public Storage {
 public:
  uint16_t size() const override { return E2END + 1; }
  uint8_t read(uint16_t addr) override {
    return eeprom_read_byte(reinterpret_cast<const uint8_t*>(addr));
  }
  void update(uint16_t addr, uint8_t value) override {
    eeprom_update_byte(reinterpret_cast<uint8_t*>(addr), value);
  }
};

class AvrBoard : public Board {
 public:
  uint32_t millis() override { return ::millis(); }
  void set_relay(bool closed) override { digitalWrite(kRelayArduinoPin, closed ? HIGH : LOW); }
  void pin_mode(uint8_t pin, PinMode mode) override {
    pinMode(arduino_pin(pin), mode == kOutput ? OUTPUT : mode == kPullup ? INPUT_PULLUP : INPUT);
  }
  void digital_write(uint8_t pin, bool high) override {
    digitalWrite(arduino_pin(pin), high ? HIGH : LOW);
  }
  bool digital_read(uint8_t pin) override { return digitalRead(arduino_pin(pin)) == HIGH; }
  uint16_t analog_read(uint8_t channel) override { return sampler::latest(channel); }
  uint32_t entropy() override {
    return micros() ^ (static_cast<uint32_t>(sampler::latest(1)) << 16) ^ sampler::latest(0);
  }
  void entropy_pool(uint8_t* seed) override;
  void busy() override;
};

SerialSink sink;
EepromStorage storage;
AvrBoard board;
MeterApp app(board, sink, storage);
FirmataParser parser(app);
PowerCalc calc(sampler::timing(), Settings::factory().cal);
uint32_t last_poll_ms = 0;

// Metering work of one loop pass: finished mains cycles into energy and measurements.
__attribute__((noinline)) void meter() {
  wdt_reset();
  static bool window_clipped = false;  // a cycle of the window in progress clipped
  CycleSums cycle;
  while (sampler::pop(cycle)) {
    app.add_energy(calc.add_cycle(cycle, app.relay_closed()));
    if (clipped(cycle)) {
      app.note_clipped();
      window_clipped = true;
    }
    Measurement m;
    if (calc.take(m)) {
      app.set_measurement(m, window_clipped);
      window_clipped = false;
      sampler::set_level(calc.voltage_level());
    }
  }
}

void apply_calibration() {
  const Calibration& cal = app.calibration();
  calc.set_calibration(cal);
  sampler::set_offsets(cal.v_offset, cal.i_offset);
}

// Sleeps until there is work: a byte, a finished mains cycle or a new millisecond. The
// sampling ISR wakes the CPU 8000 times a second; most wake-ups go straight back to sleep.
void idle() {
  set_sleep_mode(SLEEP_MODE_IDLE);
  for (;;) {
    cli();
    if (Serial.available() || sampler::pending() || millis() != last_poll_ms) break;
    sleep_enable();
    sei();
    sleep_cpu();
    sleep_disable();
  }
  sei();
}

// 256 rounds of: every channel's latest raw sample (the low bits are ADC noise; the aux
// inputs float), micros() and timer 0/1 counts (their phase against the sampling ISR jitters),
// then a wait that depends on those bits.
void AvrBoard::entropy_pool(uint8_t* seed) {
  Sha256 h;
  for (uint16_t round = 0; round < 256; ++round) {
    uint8_t sample[17];
    for (uint8_t ch = 0; ch < 6; ++ch) {
      const uint16_t v = sampler::latest(ch);
      sample[2 * ch] = static_cast<uint8_t>(v);
      sample[2 * ch + 1] = static_cast<uint8_t>(v >> 8);
    }
    const uint32_t us = micros();
    memcpy(sample + 12, &us, 4);
    sample[16] = static_cast<uint8_t>(TCNT0 ^ TCNT1L);
    h.update(sample, sizeof sample);
    delayMicroseconds(100 + (sample[0] & 0x3F) + (sample[2] & 0x3F));
    if ((round & 7) == 0) meter();  // ~2 SHA-256 blocks apart: no mains cycle is lost
  }
  h.finish(seed);
}

void AvrBoard::busy() { meter(); }

}  // namespace

void setup() {
  wdt_enable(WDTO_2S);  // a hung meter reboots (and says so with its boot count)
  Serial.begin(57600);
  app.begin();                        // sets the relay level from EEPROM first,
  pinMode(kRelayArduinoPin, OUTPUT);  // then drives it: no glitch at boot
  apply_calibration();
  sampler::begin();
}

void loop() {
  wdt_reset();
  while (Serial.available()) parser.feed(static_cast<uint8_t>(Serial.read()));
  if (app.calibration_changed()) apply_calibration();  // before the next window is computed
  meter();
  const uint32_t now = millis();
  if (now != last_poll_ms) {
    last_poll_ms = now;
    app.poll();
  }
  idle();
}
