// ParentLocator: the Parent Locator metadata item of a differencing VHDX (MS-VHDX §2.6.2.6).
//
// A 20-byte ParentLocatorHeader (LocatorType GUID, Reserved u16, KeyValueCount u16), then
// KeyValueCount 12-byte ParentLocatorEntry records (KeyOffset u32, ValueOffset u32, KeyLength
// u16, ValueLength u16; offsets relative to the start of the item, lengths in bytes), then the
// strings: UTF-16LE, no NUL, keys unique and case-sensitive. Here keys and values are UTF-8.
// Codec only: no I/O. Thread-safe: value types and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "platform/guid.h"
#include "platform/status.h"
#include "vhdx/format.h"

namespace hvdisk::vhdx {

// UTF-16LE bytes -> UTF-8. nullopt on an odd byte count or an unpaired surrogate, unless
// `lossy`, which substitutes U+FFFD (and drops an odd trailing byte) instead.
std::optional<std::string> Utf16LeToUtf8(std::span<const std::byte> utf16le, bool lossy = false);
// UTF-8 -> UTF-16LE bytes. nullopt on malformed UTF-8, unless `lossy` (U+FFFD instead).
std::optional<std::vector<std::byte>> Utf8ToUtf16Le(std::string_view utf8, bool lossy = false);

// Keys of the VHDX locator type (§2.6.2.6.3), in the order Windows writes them.
inline constexpr std::string_view kParentLinkageKey = "parent_linkage";
inline constexpr std::string_view kAbsoluteWin32PathKey = "absolute_win32_path";
inline constexpr std::string_view kRelativePathKey = "relative_path";
inline constexpr std::string_view kVolumePathKey = "volume_path";
inline constexpr std::string_view kParentLinkage2Key = "parent_linkage2";

struct ParentLocatorHeader {
  static constexpr size_t kSize = 20;

  Guid locator_type;
  uint16_t key_value_count = 0;

  static Result<ParentLocatorHeader> Decode(std::span<const std::byte> bytes);
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize

  bool operator==(const ParentLocatorHeader&) const = default;
};

struct ParentLocatorEntry {
  static constexpr size_t kSize = 12;

  uint32_t key_offset = 0;    // from the start of the item
  uint32_t value_offset = 0;  // from the start of the item
  uint16_t key_length = 0;    // bytes
  uint16_t value_length = 0;  // bytes

  static Result<ParentLocatorEntry> Decode(std::span<const std::byte> bytes);
  void EncodeTo(std::span<std::byte> out) const;  // REQUIRES: out.size() >= kSize

  bool operator==(const ParentLocatorEntry&) const = default;
};

struct ParentLocator {
  Guid locator_type = kVhdxParentLocatorType;
  // (key, value) in UTF-8, in stored order.
  std::vector<std::pair<std::string, std::string>> entries;

  // The whole item. Corrupt when any offset or length is zero, odd or out of bounds, a string
  // overlaps the header or entry table, is not UTF-16 or holds a NUL, or a key repeats.
  // Does not check the locator type or the VHDX keys: see ValidateVhdx().
  static Result<ParentLocator> Decode(std::span<const std::byte> item);

  // The item bytes, laid out as Windows does: header, entries, then key/value strings packed in
  // entry order. Known VHDX keys come first in the order parent_linkage, absolute_win32_path,
  // relative_path, volume_path, parent_linkage2; other keys follow in stored order.
  // InvalidArgument on an empty, NUL-holding, over-long (> 65534 bytes as UTF-16) or duplicate
  // string, more than 65535 entries, or an item over 1 MiB.
  Result<std::vector<std::byte>> Encode() const;

  std::optional<std::string_view> Get(std::string_view key) const;
  // Replaces the value of `key`, or appends the pair.
  void Set(std::string_view key, std::string_view value);
  // True when the key was present.
  bool Remove(std::string_view key);

  // VHDX locator rules (§2.6.2.6.3): the type is the VHDX type (else Unsupported);
  // parent_linkage is present and a GUID; parent_linkage2, when present, a GUID; at least one of
  // relative_path, volume_path, absolute_win32_path (else Corrupt). Path forms are not checked
  // (Windows writes absolute_win32_path without "\\?\").
  Status ValidateVhdx() const;
  // The parsed linkage GUIDs; nullopt when absent or malformed.
  std::optional<Guid> ParentLinkage() const;
  std::optional<Guid> ParentLinkage2() const;

  // "{f88d4d92-6fcc-408d-9bef-9b7c89f15c89}": braced lower case, as Windows writes linkages.
  static std::string LinkageString(const Guid& guid);

  bool operator==(const ParentLocator&) const = default;
};

}  // namespace hvdisk::vhdx
