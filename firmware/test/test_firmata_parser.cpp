// The Firmata byte parser: framing, sysex buffer limits, recovery from broken messages.
#include <string>
#include <vector>

#include "../src/firmata_parser.h"
#include "check.h"

namespace {
struct Log : FirmataHandler {
  std::vector<std::string> events;
  void on_message(uint8_t status, uint8_t d1, uint8_t d2) override {
    events.push_back("msg " + std::to_string(status) + " " + std::to_string(d1) + " " +
                     std::to_string(d2));
  }
  void on_sysex(uint8_t command, const uint8_t* payload, uint16_t septets,
                bool overflow) override {
    std::string e = "sysex " + std::to_string(command) + " n=" + std::to_string(septets);
    if (overflow) e += " overflow";
    else
      for (uint16_t i = 0; i < septets; ++i) e += " " + std::to_string(payload[i]);
    events.push_back(e);
  }
};

std::vector<std::string> parse(const std::vector<uint8_t>& bytes, uint16_t* malformed = nullptr) {
  Log log;
  FirmataParser p(log);
  for (uint8_t b : bytes) p.feed(b);
  if (malformed) *malformed = p.malformed();
  return log.events;
}
}  // namespace

TEST(parses_each_message_length) {
  const auto e = parse({0xF9, 0xC1, 0x01, 0xF4, 0x05, 0x01, 0x92, 0x7F, 0x01, 0xFF});
  CHECK_EQ(e.size(), 5);
  CHECK(e[0] == "msg 249 0 0");
  CHECK(e[1] == "msg 193 1 0");
  CHECK(e[2] == "msg 244 5 1");
  CHECK(e[3] == "msg 146 127 1");
  CHECK(e[4] == "msg 255 0 0");
}

TEST(sysex_with_and_without_payload) {
  const auto e = parse({0xF0, 0x79, 0xF7, 0xF0, 0x7A, 0x13, 0x00, 0xF7});
  CHECK_EQ(e.size(), 2);
  CHECK(e[0] == "sysex 121 n=0");
  CHECK(e[1] == "sysex 122 n=2 19 0");
}

TEST(status_byte_mid_message_drops_it_and_starts_the_next) {
  uint16_t bad = 0;
  const auto e = parse({0xF4, 0x05, 0xF9, 0xF0, 0x02, 0x01, 0xC0, 0x01}, &bad);
  CHECK_EQ(e.size(), 2);
  CHECK(e[0] == "msg 249 0 0");
  CHECK(e[1] == "msg 192 1 0");  // the sysex was cut by C0: dropped
  CHECK_EQ(bad, 2);
}

TEST(stray_data_and_lone_end_are_skipped) {
  uint16_t bad = 0;
  const auto e = parse({0x11, 0x22, 0xF7, 0xF0, 0xF7, 0xF9}, &bad);
  CHECK_EQ(e.size(), 1);
  CHECK(e[0] == "msg 249 0 0");
  CHECK_EQ(bad, 4);
}

TEST(sysex_beyond_the_buffer_is_flagged_with_its_length) {
  std::vector<uint8_t> big = {0xF0, 0x06};
  for (int i = 0; i < 300; ++i) big.push_back(0x01);
  big.push_back(0xF7);
  big.push_back(0xF9);
  const auto e = parse(big);
  CHECK_EQ(e.size(), 2);
  CHECK(e[0] == "sysex 6 n=300 overflow");
  CHECK(e[1] == "msg 249 0 0");
  std::vector<uint8_t> full = {0xF0, 0x06};
  for (int i = 0; i < FirmataParser::kSysexCapacity; ++i) full.push_back(0x02);
  full.push_back(0xF7);
  CHECK(parse(full)[0].find("overflow") == std::string::npos);
}
