#include "platform/crc32c.h"

#include <isa-l/crc.h>

#include <array>

namespace hvdisk {
namespace {

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

}  // namespace

uint32_t Crc32c(std::span<const std::byte> data) { return Crc32cExtend(0, data); }

uint32_t Crc32cExtend(uint32_t crc, std::span<const std::byte> data) {
  // ISA-L works on the raw register: pre- and post-invert for the standard form.
  return ~Raw(~crc, data);
}

uint32_t Crc32cWithZeroedField(std::span<const std::byte> data, size_t checksum_offset) {
  static constexpr std::array<std::byte, 4> kZero{};
  uint32_t crc = Crc32cExtend(0, data.first(checksum_offset));
  crc = Crc32cExtend(crc, kZero);
  return Crc32cExtend(crc, data.subspan(checksum_offset + 4));
}

}  // namespace hvdisk
