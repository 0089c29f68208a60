#include "energy_log.h"

void EnergyTotals::carry(EnergyCount& c, float& frac, float mwh, uint32_t& since) {
  frac += mwh;
  if (frac < 1.0f) return;
  const uint32_t whole = static_cast<uint32_t>(frac);
  frac -= whole;
  since += whole;
  const uint32_t mwh_total = c.mwh + whole;
  c.wh += mwh_total / 1000;
  c.mwh = static_cast<uint16_t>(mwh_total % 1000);
}

void EnergyTotals::add_joules(float joules) {
  const float mwh = joules / 3.6f;
  if (mwh > 0)
    carry(imp_, imp_frac_, mwh, since_mark_);
  else if (mwh < 0)
    carry(exp_, exp_frac_, -mwh, since_mark_);
}

void EnergyTotals::set(const EnergyCount& imp, const EnergyCount& exp) {
  imp_ = imp;
  exp_ = exp;
  imp_frac_ = exp_frac_ = 0;
  since_mark_ = 0;
}

EnergyLog::EnergyLog(Storage& storage, uint16_t first, uint16_t end)
    : storage_(storage), first_(first), slots_((end - first) / kSlotSize) {}

uint8_t EnergyLog::crc(uint16_t addr) {
  uint8_t c = 0;
  for (uint8_t i = 0; i < kSlotSize - 1; ++i) {
    c ^= storage_.read(addr + i);
    for (uint8_t b = 0; b < 8; ++b) c = (c & 0x80) ? static_cast<uint8_t>(c << 1) ^ 0x07 : c << 1;
  }
  return c;
}

bool EnergyLog::read_slot(uint16_t index, uint32_t& seq, EnergyCount& imp, EnergyCount& exp) {
  const uint16_t a = first_ + index * kSlotSize;
  seq = storage_.read_u32(a);
  if (seq == 0xFFFFFFFFUL || crc(a) != storage_.read(a + kSlotSize - 1)) return false;
  imp.wh = storage_.read_u32(a + 4);
  exp.wh = storage_.read_u32(a + 8);
  imp.mwh = storage_.read_u16(a + 12);
  exp.mwh = storage_.read_u16(a + 14);
  return imp.mwh < 1000 && exp.mwh < 1000;
}

bool EnergyLog::load(EnergyCount& imp, EnergyCount& exp) {
  bool found = false;
  imp = exp = EnergyCount{0, 0};
  for (uint16_t i = 0; i < slots_; ++i) {
    uint32_t seq;
    EnergyCount si, se;
    if (!read_slot(i, seq, si, se)) continue;
    if (!found || seq > seq_) {
      found = true;
      seq_ = seq;
      next_ = static_cast<uint16_t>((i + 1) % slots_);
      imp = si;
      exp = se;
    }
  }
  if (!found) {
    seq_ = 0;
    next_ = 0;
  }
  return found;
}

bool EnergyLog::save(const EnergyCount& imp, const EnergyCount& exp) {
  const uint16_t a = first_ + next_ * kSlotSize;
  const uint32_t seq = seq_ + 1;
  storage_.update_u32(a, seq);
  storage_.update_u32(a + 4, imp.wh);
  storage_.update_u32(a + 8, exp.wh);
  storage_.update_u16(a + 12, imp.mwh);
  storage_.update_u16(a + 14, exp.mwh);
  storage_.update(a + kSlotSize - 1, crc(a));
  uint32_t got_seq;
  EnergyCount gi, ge;
  if (!read_slot(next_, got_seq, gi, ge) || got_seq != seq || gi.wh != imp.wh ||
      gi.mwh != imp.mwh || ge.wh != exp.wh || ge.mwh != exp.mwh)
    return false;
  seq_ = seq;
  next_ = static_cast<uint16_t>((next_ + 1) % slots_);
  return true;
}
