// Persistent meter settings: boot count, auth state, relay, calibration, id and key.
#pragma once
#include <stdint.h>

#include "power_calc.h"
#include "storage.h"

struct Settings {
  static const uint8_t kFlagKeyProvisioned = 1;
  static const uint8_t kFlagCalibrated = 2;
  static const uint8_t kMaxIdLength = 16;
  static const uint8_t kKeySize = 32;

  uint32_t boot_count;
  uint8_t failures;  // consecutive AUTH tag failures
  bool relay_closed;
  uint8_t flags;
  Calibration cal;
  char meter_id[kMaxIdLength + 1];
  uint8_t key[kKeySize];

  static Settings factory();
};

// Layout in storage: magic "GM" + layout version, then the fields, up to kEnd.
class SettingsStore {
 public:
  static const uint16_t kEnd = 80;  // the energy log starts here

  explicit SettingsStore(Storage& storage) : storage_(storage) {}
  // Loads the settings; blank or foreign storage gets factory defaults (and keeps them).
  bool load(Settings& s);
  // Writes what changed and reads it back; false if storage did not take it.
  bool save(const Settings& s);

 private:
  void write(const Settings& s);
  void read(Settings& s);
  Storage& storage_;
};
