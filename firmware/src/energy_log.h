// Import/export energy counters and their wear-levelled record in storage.
#pragma once
#include <stdint.h>

#include "storage.h"

struct EnergyCount {
  uint32_t wh;   // whole Wh (wraps at 2^32)
  uint16_t mwh;  // 0..999
};

// Running totals with a sub-mWh remainder that never gets lost.
class EnergyTotals {
 public:
  void add_joules(float joules);  // + import, − export
  void set(const EnergyCount& imp, const EnergyCount& exp);
  EnergyCount imported() const { return imp_; }
  EnergyCount exported() const { return exp_; }
  // mWh accumulated since `mark()` in either direction.
  uint32_t mwh_since_mark() const { return since_mark_; }
  void mark() { since_mark_ = 0; }

 private:
  static void carry(EnergyCount& c, float& frac, float mwh, uint32_t& since);
  EnergyCount imp_ = {0, 0}, exp_ = {0, 0};
  float imp_frac_ = 0, exp_frac_ = 0;  // < 1 mWh not yet counted
  uint32_t since_mark_ = 0;
};

// A ring of slots [seq u32, import_wh u32, export_wh u32, import_mwh u16, export_mwh u16,
// crc8]: each save writes the next slot, the newest valid slot wins at load. A torn write
// fails its CRC and the previous slot is used.
class EnergyLog {
 public:
  static const uint8_t kSlotSize = 17;

  EnergyLog(Storage& storage, uint16_t first, uint16_t end);
  // Finds the newest valid slot; false (and zero counters) on blank storage.
  bool load(EnergyCount& imp, EnergyCount& exp);
  // Writes the next slot and reads it back; false if storage did not take it.
  bool save(const EnergyCount& imp, const EnergyCount& exp);
  uint16_t slots() const { return slots_; }

 private:
  bool read_slot(uint16_t index, uint32_t& seq, EnergyCount& imp, EnergyCount& exp);
  uint8_t crc(uint16_t addr);

  Storage& storage_;
  uint16_t first_, slots_;
  uint16_t next_ = 0;
  uint32_t seq_ = 0;
};
