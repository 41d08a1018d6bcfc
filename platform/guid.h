// Guid: a 128-bit GUID as MS-VHDX stores it.
//
// On disk a GUID is mixed-endian (MS-VHDX §2, [MS-DTYP] 2.3.4.2): Data1 (u32), Data2 (u16) and
// Data3 (u16) little-endian, Data4 as 8 raw bytes. Text is "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
// braced or not, case-insensitive on input, upper case on output. Values compare by value.
// Thread-safe: a value type; Random() may be called from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace hvdisk {

struct Guid {
  uint32_t data1 = 0;
  uint16_t data2 = 0;
  uint16_t data3 = 0;
  std::array<uint8_t, 8> data4{};

  static constexpr size_t kEncodedSize = 16;

  bool IsZero() const { return *this == Guid(); }
  auto operator<=>(const Guid&) const = default;

  // The 16 on-disk bytes.
  static Guid Decode(std::span<const std::byte, kEncodedSize> bytes);
  void EncodeTo(std::span<std::byte, kEncodedSize> out) const;

  // "{8B7CA206-4790-4B9A-B8FE-575F050F886E}" (braced) or without braces.
  std::string ToString(bool braced = true) const;
  // Accepts braced or bare, any case; nullopt on anything else.
  static std::optional<Guid> Parse(std::string_view text);

  // A random (version 4) GUID from Boost.UUID's generator.
  static Guid Random();
};

}  // namespace hvdisk
