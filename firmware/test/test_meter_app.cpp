// The meter application against the transcripts of PROTOCOL.md §8 and the auth rules.
#include <cstring>
#include <string>
#include <vector>

#include "../src/hmac_sha256.h"
#include "../src/meter_app.h"
#include "check.h"

namespace {
typedef std::vector<uint8_t> Bytes;

class FakeBoard : public Board {
 public:
  uint32_t millis() override { return now; }
  void set_relay(bool closed) override { relay = closed; }
  void pin_mode(uint8_t pin, PinMode mode) override { modes[pin] = mode; }
  void digital_write(uint8_t pin, bool high) override { out[pin] = high; }
  bool digital_read(uint8_t pin) override { return in[pin]; }
  uint16_t analog_read(uint8_t channel) override { return 500 + channel; }
  uint32_t entropy() override { return 0; }  // worst case: no entropy at all
  void entropy_pool(uint8_t* seed) override {
    for (uint8_t i = 0; i < 32; ++i) seed[i] = static_cast<uint8_t>(pool_byte + i);
  }
  uint8_t pool_byte = 7;
  uint32_t now = 0;
  bool relay = false;
  uint8_t modes[20] = {0};
  bool out[20] = {false}, in[20] = {false};
};

class Capture : public ByteSink {
 public:
  void write(uint8_t b) override { bytes.push_back(b); }
  Bytes take() {
    Bytes b;
    b.swap(bytes);
    return b;
  }
  Bytes bytes;
};

class RamStorage : public Storage {
 public:
  RamStorage() { std::memset(b, 0xFF, sizeof b); }
  uint16_t size() const override { return sizeof b; }
  uint8_t read(uint16_t a) override { return b[a]; }
  void update(uint16_t a, uint8_t v) override { b[a] = v; }
  uint8_t b[1024];
};

struct Meter {
  FakeBoard board;
  Capture out;
  RamStorage storage;
  MeterApp app{board, out, storage};
  FirmataParser parser{app};
  Meter() {
    app.begin();
    out.take();
  }
  Bytes talk(const Bytes& in) {
    for (uint8_t b : in) parser.feed(b);
    return out.take();
  }
  Bytes reboot() {
    MeterApp* fresh = new (&app) MeterApp(board, out, storage);
    fresh->begin();
    return out.take();
  }
};

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes septets_of(const uint8_t* p, size_t n) {
  Bytes s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(p[i] & 0x7F);
    s.push_back(p[i] >> 7);
  }
  return s;
}

// AUTH sysex for `msg_tail` (cmd + args) with the nonce from a CHALLENGE reply.
Bytes auth(const uint8_t key[32], const Bytes& challenge_reply, const Bytes& cmd_args) {
  uint8_t nonce[8];
  for (int i = 0; i < 8; ++i) nonce[i] = challenge_reply[2 + 2 * i] | challenge_reply[3 + 2 * i] << 7;
  Bytes msg = cat({0x06}, cmd_args);
  HmacSha256 h;
  h.begin(key, 32);
  h.update(nonce, 8);
  h.update(msg.data(), msg.size());
  uint8_t mac[32];
  h.finish(mac);
  return cat(cat(cat({0xF0}, msg), septets_of(mac, 16)), {0xF7});
}

const uint8_t kDefaultKey[32] = {0};
const Bytes kChallenge = {0xF0, 0x05, 0xF7};
}  // namespace

TEST(transcripts_of_protocol_section_8) {
  Meter m;
  CHECK(m.talk({0xF9}) == Bytes({0xF9, 0x02, 0x06}));
  CHECK(m.talk({0xF0, 0x79, 0xF7}) ==
        Bytes({0xF0, 0x79, 0x01, 0x00, 0x67, 0x00, 0x72, 0x00, 0x69, 0x00, 0x64, 0x00, 0x6D, 0x00,
               0x65, 0x00, 0x74, 0x00, 0x65, 0x00, 0x72, 0x00, 0xF7}));
  Bytes mapping = {0xF0, 0x6A};
  mapping.insert(mapping.end(), 14, 0x7F);
  mapping = cat(mapping, {0, 1, 2, 3, 4, 5, 0xF7});
  CHECK(m.talk({0xF0, 0x69, 0xF7}) == mapping);
  CHECK(m.talk({0xF0, 0x03, 0x00, 0x00, 0xF7}).empty());
  CHECK(m.talk({0xF0, 0x0A, 0xF7}) == Bytes({0xF0, 0x0F, 0x01, 0x0A, 0x00, 0x00, 0xF7}));
  Bytes bad = {0xF0, 0x06, 0x01, 0x01};
  bad.insert(bad.end(), 32, 0x11);
  CHECK(m.talk(cat(bad, {0xF7})) == Bytes({0xF0, 0x0F, 0x04, 0x06, 0x00, 0x00, 0xF7}));
  CHECK(m.talk({0xF0, 0x03, 0x05, 0xF7}) == Bytes({0xF0, 0x0F, 0x02, 0x03, 0x01, 0x00, 0xF7}));
}

TEST(boot_announcement_and_identity) {
  Meter m;
  const Bytes boot = m.reboot();
  CHECK(boot.size() > 3 && boot[0] == 0xF9);
  const Bytes id = {0xF0, 0x01, 1, 1, 1, 0, 0, 2, 0, 0, 'm', 'e', 't', 'e', 'r', 0xF7};
  CHECK(Bytes(boot.end() - id.size(), boot.end()) == id);  // boot count 2 after the reboot
}

TEST(capabilities_list_reserved_pins_without_modes) {
  Meter m;
  const Bytes r = m.talk({0xF0, 0x6B, 0xF7});
  CHECK(r[0] == 0xF0 && r[1] == 0x6C && r.back() == 0xF7);
  CHECK(r[2] == 0x7F && r[3] == 0x7F);  // pins 0, 1
  const Bytes digital = {0, 1, 1, 1, 0x0B, 1, 0x7F};
  CHECK(Bytes(r.begin() + 4, r.begin() + 11) == digital);  // pin 2
  CHECK_EQ(r.size(), 2 + 2 + 5 * 7 + 1 + 6 * 7 + 6 * 9 + 1);
}

TEST(valid_unlock_switches_relay_and_survives_reboot) {
  Meter m;
  CHECK(m.board.relay);
  const Bytes reply = m.talk(auth(kDefaultKey, m.talk(kChallenge), {0x01, 0x00}));
  CHECK(reply == Bytes({0xF0, 0x06, 0x01, 0x00, 0xF7}));
  CHECK(!m.board.relay);
  m.board.relay = true;
  m.reboot();
  CHECK(!m.board.relay);
}

TEST(replay_forgery_and_wrong_key_are_refused) {
  Meter m;
  const Bytes ch = m.talk(kChallenge);
  const Bytes open = auth(kDefaultKey, ch, {0x01, 0x00});
  m.talk(open);
  CHECK(m.talk(open) == Bytes({0xF0, 0x0F, 0x04, 0x06, 0x00, 0x00, 0xF7}));  // nonce used
  m.board.relay = true;
  Bytes forged = auth(kDefaultKey, m.talk(kChallenge), {0x01, 0x00});
  forged[forged.size() - 2] ^= 1;
  CHECK(m.talk(forged) == Bytes({0xF0, 0x0F, 0x05, 0x06, 0x01, 0x00, 0xF7}));
  uint8_t wrong[32];
  std::memset(wrong, 7, sizeof wrong);
  CHECK(m.talk(auth(wrong, m.talk(kChallenge), {0x01, 0x00})) ==
        Bytes({0xF0, 0x0F, 0x05, 0x06, 0x02, 0x00, 0xF7}));
  CHECK(m.board.relay);
}

TEST(nonces_never_repeat_across_reboots_even_without_entropy) {
  Meter m;
  std::vector<Bytes> seen;
  for (int boot = 0; boot < 3; ++boot) {
    for (int i = 0; i < 5; ++i) {
      const Bytes n = m.talk(kChallenge);
      for (const Bytes& s : seen) CHECK(s != n);
      seen.push_back(n);
    }
    m.reboot();
  }
}

TEST(system_reset_discards_a_pending_nonce) {
  Meter m;
  const Bytes ch = m.talk(kChallenge);
  CHECK(m.talk({0xFF}).empty());
  CHECK(m.talk(auth(kDefaultKey, ch, {0x01, 0x00})) ==
        Bytes({0xF0, 0x0F, 0x04, 0x06, 0x00, 0x00, 0xF7}));  // NO_CHALLENGE
  CHECK(m.talk(auth(kDefaultKey, m.talk(kChallenge), {0x01, 0x00}))[2] == 0x01);  // new one works
}

TEST(nonce_expires_after_30_s) {
  Meter m;
  const Bytes ch = m.talk(kChallenge);
  m.board.now += 30001;
  CHECK(m.talk(auth(kDefaultKey, ch, {0x01, 0x00})) ==
        Bytes({0xF0, 0x0F, 0x04, 0x06, 0x00, 0x00, 0xF7}));
}

TEST(lockout_doubles_and_survives_reboot) {
  Meter m;
  uint8_t wrong[32];
  std::memset(wrong, 7, sizeof wrong);
  for (int i = 0; i < 3; ++i) m.talk(auth(wrong, m.talk(kChallenge), {0x01, 0x00}));
  CHECK(m.talk(kChallenge) == Bytes({0xF0, 0x0F, 0x06, 0x05, 0x01, 0x00, 0xF7}));  // 1 s
  m.board.now += 1000;
  m.talk(auth(wrong, m.talk(kChallenge), {0x01, 0x00}));  // 4th failure: 2 s
  CHECK(m.talk(kChallenge) == Bytes({0xF0, 0x0F, 0x06, 0x05, 0x02, 0x00, 0xF7}));
  m.reboot();  // the lockout restarts in full
  m.board.now += 1500;
  CHECK(m.talk(kChallenge)[2] == 0x06);
  m.board.now += 600;
  const Bytes ok = m.talk(auth(kDefaultKey, m.talk(kChallenge), {0x01, 0x00}));
  CHECK(ok == Bytes({0xF0, 0x06, 0x01, 0x00, 0xF7}));
}

TEST(set_key_then_only_the_new_key_works) {
  Meter m;
  uint8_t key[32];
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(0x80 + i);
  const Bytes set = auth(kDefaultKey, m.talk(kChallenge), cat({0x04}, septets_of(key, 32)));
  CHECK(m.talk(set) == Bytes({0xF0, 0x06, 0x04, 0x00, 0xF7}));
  CHECK(m.talk(auth(kDefaultKey, m.talk(kChallenge), {0x01, 0x00}))[2] == 0x05);
  CHECK(m.talk(auth(key, m.talk(kChallenge), {0x01, 0x00})) ==
        Bytes({0xF0, 0x06, 0x01, 0x00, 0xF7}));
  const Bytes id = m.talk({0xF0, 0x01, 0xF7});
  CHECK_EQ(id[9], 1);  // flags: key provisioned
}

TEST(bad_values_are_refused_with_field_index) {
  Meter m;
  CHECK(m.talk(auth(kDefaultKey, m.talk(kChallenge), {0x01, 0x02})) ==
        Bytes({0xF0, 0x0F, 0x03, 0x06, 0x01, 0x00, 0xF7}));
  CHECK(m.talk(auth(kDefaultKey, m.talk(kChallenge), {0x03, 'a', '!'})) ==
        Bytes({0xF0, 0x0F, 0x03, 0x06, 0x01, 0x00, 0xF7}));
  const Bytes zero_gain = {0x02, 0, 0, 0, 0, 1, 0, 0, 0, 0, 4, 0, 4, 0, 0};
  CHECK(m.talk(auth(kDefaultKey, m.talk(kChallenge), zero_gain)) ==
        Bytes({0xF0, 0x0F, 0x03, 0x06, 0x01, 0x00, 0xF7}));
  CHECK(m.talk(auth(kDefaultKey, m.talk(kChallenge), {0x09})) ==
        Bytes({0xF0, 0x0F, 0x01, 0x06, 0x00, 0x00, 0xF7}));
}

TEST(oversized_sysex_gets_bad_length) {
  Meter m;
  Bytes big = {0xF0, 0x06};
  big.insert(big.end(), 200, 0x01);
  CHECK(m.talk(cat(big, {0xF7})) == Bytes({0xF0, 0x0F, 0x02, 0x06, 200 & 0x7F, 200 >> 7, 0xF7}));
}

TEST(reading_frame_layout_and_counters) {
  Meter m;
  m.app.set_measurement({230.0f, 5.0f, 1150.0f, 1.0f, 50.0f});
  m.app.add_energy(3600.0f * 1.5f);  // 1.5 Wh
  m.board.now = 2000;
  const Bytes r = m.talk({0xF0, 0x02, 0xF7});
  CHECK_EQ(r.size(), 38);
  CHECK_EQ(r[8], 3);                                    // relay closed, valid
  CHECK_EQ(r[9] | r[10] << 7 | r[11] << 14, 23000);     // 230.00 V
  CHECK_EQ(r[23] | r[24] << 7, 1);                      // import: 1 Wh
  CHECK_EQ(r[28] | r[29] << 7, 500);                    // + 500 mWh
  m.reboot();
  m.board.now = 4000;
  const Bytes after = m.talk({0xF0, 0x02, 0xF7});
  CHECK_EQ(after[23] | after[24] << 7, 1);  // the counter survived the reboot
  CHECK_EQ(after[28] | after[29] << 7, 500);
}

TEST(a_clipped_cycle_flags_the_next_reading_only_and_clears_valid) {
  Meter m;
  m.app.set_measurement({230.0f, 5.0f, 1150.0f, 1.0f, 50.0f});
  m.board.now = 2000;
  CHECK_EQ(m.talk({0xF0, 0x02, 0xF7})[8], 3);  // relay closed, valid
  m.app.note_clipped();
  CHECK_EQ(m.talk({0xF0, 0x02, 0xF7})[8], 1 | 8);  // clipped, not valid
  CHECK_EQ(m.talk({0xF0, 0x02, 0xF7})[8], 3);      // no clipping since the last one
  m.app.set_measurement({230.0f, 19.0f, 4370.0f, 1.0f, 50.0f}, true);
  CHECK_EQ(m.talk({0xF0, 0x02, 0xF7})[8], 1 | 8);  // its values come from a clipped window
  CHECK_EQ(m.talk({0xF0, 0x02, 0xF7})[8], 1 | 8);  // still, until the next window
  m.app.set_measurement({230.0f, 5.0f, 1150.0f, 1.0f, 50.0f}, false);
  CHECK_EQ(m.talk({0xF0, 0x02, 0xF7})[8], 3);
}

TEST(analog_and_digital_reporting) {
  Meter m;
  m.talk({0xC2, 0x01});
  m.board.now += 19;
  m.app.poll();
  CHECK(m.out.take() == Bytes({0xE2, 502 & 0x7F, 502 >> 7}));
  m.talk({0xF4, 0x03, 0x00});  // pin 3 input
  CHECK(m.talk({0xD0, 0x01}) == Bytes({0x90, 0x00, 0x00}));
  m.board.in[3] = true;
  m.board.now += 1;
  m.app.poll();
  const Bytes r = m.out.take();
  CHECK(Bytes(r.end() - 3, r.end()) == Bytes({0x90, 0x08, 0x00}));
  m.talk({0xF4, 0x05, 0x01});  // pin 5 output
  m.talk({0x90, 0x20, 0x00});
  CHECK(m.board.out[5]);
  m.talk({0xF4, 0x07, 0x01});  // the relay pin is reserved
  CHECK_EQ(m.board.modes[7], 0);
}

TEST(new_calibration_rescales_the_last_measurement) {
  Meter m;
  m.app.set_measurement({230.0f, 5.0f, 1150.0f, 1.0f, 50.0f});
  m.board.now = 2000;
  const Bytes doubled_v = {0x02, 0x70, 0x41, 0x4D, 0x00,  // v_gain 1270000
                           0x4C, 0x7D, 0x02, 0x00,        // i_gain 48844
                           0x00, 0x04, 0x00, 0x04, 0x00, 0x00};
  CHECK(m.talk(auth(kDefaultKey, m.talk(kChallenge), doubled_v)) ==
        Bytes({0xF0, 0x06, 0x02, 0x00, 0xF7}));
  const Bytes r = m.talk({0xF0, 0x02, 0xF7});
  CHECK_EQ(r[9] | r[10] << 7 | r[11] << 14, 46000);  // 460.00 V from the same samples
  CHECK(m.app.calibration_changed());
  CHECK_EQ(m.app.calibration().v_gain_uv, 1270000);
  CHECK_EQ(m.app.calibration().i_gain_ua, 48844);
}

TEST(relay_switch_saves_the_counters) {
  Meter m;
  m.app.add_energy(3600.0f * 0.25f);
  m.talk(auth(kDefaultKey, m.talk(kChallenge), {0x01, 0x00}));
  m.reboot();
  m.board.now = 5000;
  const Bytes r = m.talk({0xF0, 0x02, 0xF7});
  CHECK_EQ(r[28] | r[29] << 7, 250);
}

TEST(reading_right_after_a_periodic_save_is_still_fresh) {
  Meter m;
  m.app.add_energy(3600.0f * 0.1f);
  m.board.now = 10000;
  m.app.poll();  // periodic save (10 s)
  m.app.add_energy(3600.0f * 0.05f);
  m.board.now = 10050;
  const Bytes r = m.talk({0xF0, 0x02, 0xF7});
  CHECK_EQ(r[28] | r[29] << 7, 150);
  m.app.add_energy(3600.0f * 0.01f);
  m.board.now = 10080;  // readings faster than 10 Hz may repeat the last saved value
  const Bytes again = m.talk({0xF0, 0x02, 0xF7});
  CHECK_EQ(again[28] | again[29] << 7, 150);
}
