// Energy totals with sub-mWh remainder and the wear-levelled EEPROM ring.
#include <cstring>

#include "../src/energy_log.h"
#include "../src/settings.h"
#include "check.h"

namespace {
class RamStorage : public Storage {
 public:
  RamStorage() { std::memset(bytes, 0xFF, sizeof bytes); }
  uint16_t size() const override { return sizeof bytes; }
  uint8_t read(uint16_t a) override { return bytes[a]; }
  void update(uint16_t a, uint8_t v) override {
    if (bytes[a] != v) {
      ++writes[a];
      if (!broken) bytes[a] = v;
    }
  }
  uint8_t bytes[1024];
  unsigned writes[1024] = {0};
  bool broken = false;
};
}  // namespace

TEST(totals_keep_sub_mwh_remainders) {
  EnergyTotals t;
  for (int i = 0; i < 3600; ++i) t.add_joules(0.5f);  // 0.5 J a step: 1800 J = 500 mWh
  CHECK_EQ(t.imported().wh, 0);
  CHECK(t.imported().mwh >= 499 && t.imported().mwh <= 500);
  for (int i = 0; i < 3600 * 2; ++i) t.add_joules(1.0f);  // +2 Wh
  CHECK_EQ(t.imported().wh, 2);
  t.add_joules(-7200.0f);
  CHECK_EQ(t.exported().wh, 2);
  CHECK_EQ(t.exported().mwh, 0);
}

TEST(log_on_blank_storage_starts_at_zero) {
  RamStorage s;
  EnergyLog log(s, SettingsStore::kEnd, s.size());
  EnergyCount imp, exp;
  CHECK(!log.load(imp, exp));
  CHECK_EQ(imp.wh, 0);
  CHECK_EQ(exp.mwh, 0);
}

TEST(log_returns_the_newest_value_after_wrapping_the_ring) {
  RamStorage s;
  EnergyLog log(s, SettingsStore::kEnd, s.size());
  const unsigned n = log.slots() * 3 + 5;
  for (unsigned i = 1; i <= n; ++i) CHECK(log.save({i, static_cast<uint16_t>(i % 1000)}, {2 * i, 7}));
  EnergyLog again(s, SettingsStore::kEnd, s.size());
  EnergyCount imp, exp;
  CHECK(again.load(imp, exp));
  CHECK_EQ(imp.wh, n);
  CHECK_EQ(imp.mwh, n % 1000);
  CHECK_EQ(exp.wh, 2 * n);
}

TEST(log_spreads_writes_over_the_ring) {
  RamStorage s;
  EnergyLog log(s, SettingsStore::kEnd, s.size());
  const unsigned saves = 1000;
  for (unsigned i = 1; i <= saves; ++i) log.save({i, 0}, {0, 0});
  unsigned worst = 0;
  for (unsigned a = 0; a < 1024; ++a) worst = s.writes[a] > worst ? s.writes[a] : worst;
  CHECK(log.slots() >= 50);
  CHECK(worst <= saves / log.slots() + 2);  // no byte takes more than its share
}

TEST(torn_write_falls_back_to_the_previous_slot) {
  RamStorage s;
  EnergyLog log(s, SettingsStore::kEnd, s.size());
  log.save({10, 0}, {0, 0});
  log.save({11, 500}, {0, 0});
  s.bytes[SettingsStore::kEnd + EnergyLog::kSlotSize + 5] ^= 0x40;  // corrupt the newest slot
  EnergyLog again(s, SettingsStore::kEnd, s.size());
  EnergyCount imp, exp;
  CHECK(again.load(imp, exp));
  CHECK_EQ(imp.wh, 10);
}

TEST(failed_storage_is_reported) {
  RamStorage s;
  EnergyLog log(s, SettingsStore::kEnd, s.size());
  s.broken = true;
  CHECK(!log.save({1, 0}, {0, 0}));
}

TEST(settings_round_trip_and_factory_defaults) {
  RamStorage s;
  SettingsStore store(s);
  Settings a;
  CHECK(store.load(a));
  CHECK_EQ(a.cal.v_gain_uv, 635000);
  CHECK(a.relay_closed);
  a.boot_count = 42;
  a.failures = 3;
  a.relay_closed = false;
  a.cal.phase_cdeg = -150;
  std::strcpy(a.meter_id, "pv-1");
  a.key[31] = 9;
  CHECK(store.save(a));
  Settings b;
  CHECK(SettingsStore(s).load(b));
  CHECK_EQ(b.boot_count, 42);
  CHECK_EQ(b.failures, 3);
  CHECK(!b.relay_closed);
  CHECK_EQ(b.cal.phase_cdeg, -150);
  CHECK(std::strcmp(b.meter_id, "pv-1") == 0);
  CHECK_EQ(b.key[31], 9);
}
