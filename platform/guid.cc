#include "platform/guid.h"

#include <boost/endian/conversion.hpp>
#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid.hpp>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace hvdisk {

Guid Guid::Decode(std::span<const std::byte, kEncodedSize> b) {
  Guid g;
  g.data1 = boost::endian::load_little_u32(reinterpret_cast<const unsigned char*>(&b[0]));
  g.data2 = boost::endian::load_little_u16(reinterpret_cast<const unsigned char*>(&b[4]));
  g.data3 = boost::endian::load_little_u16(reinterpret_cast<const unsigned char*>(&b[6]));
  std::memcpy(g.data4.data(), &b[8], 8);
  return g;
}

void Guid::EncodeTo(std::span<std::byte, kEncodedSize> out) const {
  boost::endian::store_little_u32(reinterpret_cast<unsigned char*>(&out[0]), data1);
  boost::endian::store_little_u16(reinterpret_cast<unsigned char*>(&out[4]), data2);
  boost::endian::store_little_u16(reinterpret_cast<unsigned char*>(&out[6]), data3);
  std::memcpy(&out[8], data4.data(), 8);
}

std::string Guid::ToString(bool braced) const {
  // One snprintf for both forms: GCC 12 at -O3 warns (-Wrestrict, a false positive) on "{" + s.
  char buf[40];
  std::snprintf(buf, sizeof buf,
                braced ? "{%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}"
                       : "%08X-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X",
                data1, data2, data3, data4[0], data4[1], data4[2], data4[3], data4[4], data4[5],
                data4[6], data4[7]);
  return std::string(buf);
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses exactly `digits` hex digits at text[*pos], advancing pos.
std::optional<uint64_t> Hex(std::string_view text, size_t* pos, int digits) {
  uint64_t v = 0;
  for (int i = 0; i < digits; ++i, ++*pos) {
    if (*pos >= text.size()) return std::nullopt;
    int d = HexValue(text[*pos]);
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  return v;
}

bool Dash(std::string_view text, size_t* pos) {
  if (*pos >= text.size() || text[*pos] != '-') return false;
  ++*pos;
  return true;
}

}  // namespace

std::optional<Guid> Guid::Parse(std::string_view text) {
  if (text.size() == 38 && text.front() == '{' && text.back() == '}') {
    text = text.substr(1, 36);
  }
  if (text.size() != 36) return std::nullopt;
  size_t pos = 0;
  Guid g;
  auto d1 = Hex(text, &pos, 8);
  if (!d1 || !Dash(text, &pos)) return std::nullopt;
  auto d2 = Hex(text, &pos, 4);
  if (!d2 || !Dash(text, &pos)) return std::nullopt;
  auto d3 = Hex(text, &pos, 4);
  if (!d3 || !Dash(text, &pos)) return std::nullopt;
  g.data1 = static_cast<uint32_t>(*d1);
  g.data2 = static_cast<uint16_t>(*d2);
  g.data3 = static_cast<uint16_t>(*d3);
  for (int i = 0; i < 8; ++i) {
    if (i == 2 && !Dash(text, &pos)) return std::nullopt;
    auto b = Hex(text, &pos, 2);
    if (!b) return std::nullopt;
    g.data4[i] = static_cast<uint8_t>(*b);
  }
  return g;
}

Guid Guid::Random() {
  static std::mutex mu;
  static boost::uuids::random_generator gen;
  boost::uuids::uuid u;
  {
    std::lock_guard<std::mutex> lock(mu);
    u = gen();
  }
  // Interpret the RFC 4122 big-endian bytes as the textual GUID fields.
  Guid g;
  g.data1 = static_cast<uint32_t>(u.data[0]) << 24 | static_cast<uint32_t>(u.data[1]) << 16 |
            static_cast<uint32_t>(u.data[2]) << 8 | u.data[3];
  g.data2 = static_cast<uint16_t>(u.data[4] << 8 | u.data[5]);
  g.data3 = static_cast<uint16_t>(u.data[6] << 8 | u.data[7]);
  std::memcpy(g.data4.data(), &u.data[8], 8);
  return g;
}

}  // namespace hvdisk
