#include "platform/crc32c.h"

#include <array>

#ifdef HVDISK_HAVE_ISAL
#include <isa-l/crc.h>
#endif

namespace hvdisk {
namespace {

// The byte-wise table over the reflected Castagnoli polynomial.
constexpr uint32_t kCastagnoliReflected = 0x82F63B78;

constexpr std::array<uint32_t, 256> MakeTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1) ? kCastagnoliReflected : 0);
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kTable = MakeTable();

uint32_t TableRaw(uint32_t state, std::span<const std::byte> data) {
  for (std::byte b : data) {
    state = kTable[(state ^ static_cast<uint8_t>(b)) & 0xff] ^ (state >> 8);
  }
  return state;
}

#ifdef HVDISK_HAVE_ISAL

// ISA-L takes an int length; feed it in chunks well below INT_MAX.
constexpr size_t kChunk = 1u << 30;

uint32_t Raw(uint32_t state, std::span<const std::byte> data) {
  while (!data.empty()) {
    size_t n = data.size() < kChunk ? data.size() : kChunk;
    auto* p = reinterpret_cast<unsigned char*>(const_cast<std::byte*>(data.data()));
    state = crc32_iscsi(p, static_cast<int>(n), state);
    data = data.subspan(n);
  }
  return state;
}

#else  // built without ISA-L

uint32_t Raw(uint32_t state, std::span<const std::byte> data) { return TableRaw(state, data); }

#endif

}  // namespace

uint32_t Crc32c(std::span<const std::byte> data) { return Crc32cExtend(0, data); }

uint32_t Crc32cExtend(uint32_t crc, std::span<const std::byte> data) {
  // ISA-L works on the raw register: pre- and post-invert for the standard form.
  return ~Raw(~crc, data);
}

uint32_t Crc32cExtendByTable(uint32_t crc, std::span<const std::byte> data) {
  return ~TableRaw(~crc, data);
}

uint32_t Crc32cWithZeroedField(std::span<const std::byte> data, size_t checksum_offset) {
  static constexpr std::array<std::byte, 4> kZero{};
  uint32_t crc = Crc32cExtend(0, data.first(checksum_offset));
  crc = Crc32cExtend(crc, kZero);
  return Crc32cExtend(crc, data.subspan(checksum_offset + 4));
}

}  // namespace hvdisk
