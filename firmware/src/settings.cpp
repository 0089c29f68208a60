#include "settings.h"

#include <string.h>

namespace {
const uint8_t kMagic0 = 'G', kMagic1 = 'M', kLayout = 1;
enum : uint16_t {
  kBoot = 3,
  kFailures = 7,
  kRelay = 8,
  kFlags = 9,
  kVGain = 10,
  kIGain = 14,
  kVOffset = 18,
  kIOffset = 20,
  kPhase = 22,
  kIdLength = 24,
  kId = 25,
  kKey = 41,  // .. 73
};
}  // namespace

Settings Settings::factory() {
  Settings s;
  memset(&s, 0, sizeof s);
  s.relay_closed = true;
  s.cal.v_gain_uv = 635000;
  s.cal.i_gain_ua = 48828;
  s.cal.v_offset = 512;
  s.cal.i_offset = 512;
  strcpy(s.meter_id, "meter");
  return s;
}

void SettingsStore::write(const Settings& s) {
  storage_.update(0, kMagic0);
  storage_.update(1, kMagic1);
  storage_.update(2, kLayout);
  storage_.update_u32(kBoot, s.boot_count);
  storage_.update(kFailures, s.failures);
  storage_.update(kRelay, s.relay_closed ? 1 : 0);
  storage_.update(kFlags, s.flags);
  storage_.update_u32(kVGain, s.cal.v_gain_uv);
  storage_.update_u32(kIGain, s.cal.i_gain_ua);
  storage_.update_u16(kVOffset, s.cal.v_offset);
  storage_.update_u16(kIOffset, s.cal.i_offset);
  storage_.update_u16(kPhase, static_cast<uint16_t>(s.cal.phase_cdeg));
  const uint8_t n = static_cast<uint8_t>(strlen(s.meter_id));
  storage_.update(kIdLength, n);
  for (uint8_t i = 0; i < n; ++i) storage_.update(kId + i, static_cast<uint8_t>(s.meter_id[i]));
  for (uint8_t i = 0; i < Settings::kKeySize; ++i) storage_.update(kKey + i, s.key[i]);
}

void SettingsStore::read(Settings& s) {
  s.boot_count = storage_.read_u32(kBoot);
  s.failures = storage_.read(kFailures);
  s.relay_closed = storage_.read(kRelay) != 0;
  s.flags = storage_.read(kFlags);
  s.cal.v_gain_uv = storage_.read_u32(kVGain);
  s.cal.i_gain_ua = storage_.read_u32(kIGain);
  s.cal.v_offset = storage_.read_u16(kVOffset);
  s.cal.i_offset = storage_.read_u16(kIOffset);
  s.cal.phase_cdeg = static_cast<int16_t>(storage_.read_u16(kPhase));
  uint8_t n = storage_.read(kIdLength);
  if (n > Settings::kMaxIdLength) n = Settings::kMaxIdLength;
  for (uint8_t i = 0; i < n; ++i) s.meter_id[i] = static_cast<char>(storage_.read(kId + i));
  s.meter_id[n] = 0;
  for (uint8_t i = 0; i < Settings::kKeySize; ++i) s.key[i] = storage_.read(kKey + i);
}

bool SettingsStore::load(Settings& s) {
  if (storage_.read(0) != kMagic0 || storage_.read(1) != kMagic1 || storage_.read(2) != kLayout) {
    s = Settings::factory();
    return save(s);
  }
  read(s);
  return true;
}

bool SettingsStore::save(const Settings& s) {
  write(s);
  Settings back;
  memset(&back, 0, sizeof back);
  read(back);
  return back.boot_count == s.boot_count && back.failures == s.failures &&
         back.relay_closed == s.relay_closed && back.flags == s.flags &&
         memcmp(&back.cal, &s.cal, sizeof s.cal) == 0 && strcmp(back.meter_id, s.meter_id) == 0 &&
         memcmp(back.key, s.key, sizeof s.key) == 0;
}
