#include "vhdx/parent_locator.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <set>

namespace hvdisk::vhdx {
namespace {

constexpr size_t kReservedOffset = 16;
constexpr size_t kKeyValueCountOffset = 18;
constexpr uint32_t kReplacement = 0xFFFD;

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void AppendUtf16(std::vector<std::byte>* out, uint32_t cp) {
  auto unit = [out](uint32_t u) {
    out->push_back(std::byte(u & 0xFF));
    out->push_back(std::byte(u >> 8));
  };
  if (cp < 0x10000) {
    unit(cp);
  } else {
    cp -= 0x10000;
    unit(0xD800 | (cp >> 10));
    unit(0xDC00 | (cp & 0x3FF));
  }
}

// Decodes one UTF-8 code point at s[*i] and advances past it; nullopt when malformed (bad lead
// or continuation byte, truncated, overlong, a surrogate, above U+10FFFF).
std::optional<uint32_t> NextCodePoint(std::string_view s, size_t* i) {
  auto at = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t lead = at((*i)++);
  int extra = lead < 0x80   ? 0
              : lead < 0xC0 ? -1
              : lead < 0xE0 ? 1
              : lead < 0xF0 ? 2
              : lead < 0xF8 ? 3
                            : -1;
  if (extra < 0) return std::nullopt;
  uint32_t cp = extra == 0 ? lead : lead & (0x3Fu >> extra);
  for (int k = 0; k < extra; ++k) {
    if (*i >= s.size() || (at(*i) & 0xC0) != 0x80) return std::nullopt;
    cp = cp << 6 | (at((*i)++) & 0x3F);
  }
  static constexpr std::array<uint32_t, 4> kMin = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  return cp;
}

std::string Where(size_t index) { return "parent locator: entry " + std::to_string(index); }

}  // namespace

std::optional<std::string> Utf16LeToUtf8(std::span<const std::byte> in, bool lossy) {
  if (in.size() % 2 != 0 && !lossy) return std::nullopt;
  size_t units = in.size() / 2;
  std::string out;
  out.reserve(units);
  for (size_t i = 0; i < units; ++i) {
    uint32_t u = LoadU16(in, 2 * i);
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < units) {
      uint32_t low = LoadU16(in, 2 * (i + 1));
      if (low >= 0xDC00 && low <= 0xDFFF) {
        AppendUtf8(&out, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
        ++i;
        continue;
      }
    }
    if (u >= 0xD800 && u <= 0xDFFF) {
      if (!lossy) return std::nullopt;
      u = kReplacement;
    }
    AppendUtf8(&out, u);
  }
  return out;
}

std::optional<std::vector<std::byte>> Utf8ToUtf16Le(std::string_view in, bool lossy) {
  std::vector<std::byte> out;
  out.reserve(in.size() * 2);
  size_t i = 0;
  while (i < in.size()) {
    std::optional<uint32_t> cp = NextCodePoint(in, &i);
    if (!cp && !lossy) return std::nullopt;
    AppendUtf16(&out, cp.value_or(kReplacement));
  }
  return out;
}

Result<ParentLocatorHeader> ParentLocatorHeader::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) {
    return Corrupt("parent locator: " + std::to_string(bytes.size()) +
                   " bytes, shorter than its 20-byte header (MS-VHDX 2.6.2.6.1)");
  }
  ParentLocatorHeader h;
  h.locator_type = LoadGuid(bytes, 0);
  h.key_value_count = LoadU16(bytes, kKeyValueCountOffset);
  return h;
}

void ParentLocatorHeader::EncodeTo(std::span<std::byte> out) const {
  StoreGuid(out, 0, locator_type);
  StoreU16(out, kReservedOffset, 0);
  StoreU16(out, kKeyValueCountOffset, key_value_count);
}

Result<ParentLocatorEntry> ParentLocatorEntry::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kSize) return Corrupt("parent locator: entry truncated (MS-VHDX 2.6.2.6.2)");
  ParentLocatorEntry e;
  e.key_offset = LoadU32(bytes, 0);
  e.value_offset = LoadU32(bytes, 4);
  e.key_length = LoadU16(bytes, 8);
  e.value_length = LoadU16(bytes, 10);
  return e;
}

void ParentLocatorEntry::EncodeTo(std::span<std::byte> out) const {
  StoreU32(out, 0, key_offset);
  StoreU32(out, 4, value_offset);
  StoreU16(out, 8, key_length);
  StoreU16(out, 10, value_length);
}

namespace {

// One key or value string of entry `index`: bounds, parity, no NUL, valid UTF-16.
Result<std::string> DecodeString(std::span<const std::byte> item, size_t strings_start,
                                 uint32_t offset, uint16_t length, size_t index, const char* what) {
  std::string where = Where(index) + " " + what;
  if (offset == 0 || length == 0 || length % 2 != 0) {
    return Corrupt(where + " offset " + std::to_string(offset) + " length " +
                   std::to_string(length) + ": zero or odd (MS-VHDX 2.6.2.6.2)");
  }
  if (offset < strings_start || uint64_t{offset} + length > item.size()) {
    return Corrupt(where + " [" + std::to_string(offset) + ", +" + std::to_string(length) +
                   ") outside the strings area [" + std::to_string(strings_start) + ", " +
                   std::to_string(item.size()) + ") (MS-VHDX 2.6.2.6.2)");
  }
  std::span<const std::byte> s = item.subspan(offset, length);
  for (size_t i = 0; i < s.size(); i += 2) {
    if (LoadU16(s, i) == 0) return Corrupt(where + " holds a NUL (MS-VHDX 2.6.2.6.2)");
  }
  std::optional<std::string> utf8 = Utf16LeToUtf8(s);
  if (!utf8) return Corrupt(where + " is not valid UTF-16 (MS-VHDX 2.6.2.6.2)");
  return *utf8;
}

}  // namespace

Result<ParentLocator> ParentLocator::Decode(std::span<const std::byte> item) {
  ASSIGN_OR_RETURN(ParentLocatorHeader header, ParentLocatorHeader::Decode(item));
  size_t strings_start =
      ParentLocatorHeader::kSize + size_t{header.key_value_count} * ParentLocatorEntry::kSize;
  if (strings_start > item.size()) {
    return Corrupt("parent locator: " + std::to_string(header.key_value_count) +
                   " entries do not fit in " + std::to_string(item.size()) +
                   " bytes (MS-VHDX 2.6.2.6.1)");
  }
  ParentLocator locator;
  locator.locator_type = header.locator_type;
  std::set<std::string> keys;
  for (size_t i = 0; i < header.key_value_count; ++i) {
    size_t off = ParentLocatorHeader::kSize + i * ParentLocatorEntry::kSize;
    ASSIGN_OR_RETURN(ParentLocatorEntry e, ParentLocatorEntry::Decode(item.subspan(off)));
    ASSIGN_OR_RETURN(std::string key,
                     DecodeString(item, strings_start, e.key_offset, e.key_length, i, "key"));
    ASSIGN_OR_RETURN(std::string value,
                     DecodeString(item, strings_start, e.value_offset, e.value_length, i, "value"));
    if (!keys.insert(key).second) {
      return Corrupt(Where(i) + ": duplicate key \"" + key + "\" (MS-VHDX 2.6.2.6.2)");
    }
    locator.entries.emplace_back(std::move(key), std::move(value));
  }
  return locator;
}

namespace {

int WindowsRank(std::string_view key) {
  static constexpr std::array<std::string_view, 5> kOrder = {
      kParentLinkageKey, kAbsoluteWin32PathKey, kRelativePathKey, kVolumePathKey,
      kParentLinkage2Key};
  auto it = std::find(kOrder.begin(), kOrder.end(), key);
  return static_cast<int>(it - kOrder.begin());
}

Result<std::vector<std::byte>> EncodeString(std::string_view s, std::string_view what) {
  std::optional<std::vector<std::byte>> u = Utf8ToUtf16Le(s);
  if (!u || u->empty() || u->size() > 0xFFFE || s.find('\0') != std::string_view::npos) {
    return InvalidArgument("parent locator: " + std::string(what) + " \"" + std::string(s) +
                           "\" is empty, not UTF-8, holds a NUL or is too long "
                           "(MS-VHDX 2.6.2.6.2)");
  }
  return std::move(*u);
}

}  // namespace

Result<std::vector<std::byte>> ParentLocator::Encode() const {
  std::vector<std::pair<std::string, std::string>> sorted = entries;
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return WindowsRank(a.first) < WindowsRank(b.first);
  });
  if (sorted.size() > 0xFFFF)
    return InvalidArgument("parent locator: more than 65535 entries (MS-VHDX 2.6.2.6.1)");
  std::vector<std::byte> item(ParentLocatorHeader::kSize +
                              sorted.size() * ParentLocatorEntry::kSize);
  ParentLocatorHeader{locator_type, static_cast<uint16_t>(sorted.size())}.EncodeTo(item);
  std::set<std::string_view> keys;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (!keys.insert(sorted[i].first).second) {
      return InvalidArgument("parent locator: duplicate key \"" + sorted[i].first +
                             "\" (MS-VHDX 2.6.2.6.2)");
    }
    ASSIGN_OR_RETURN(std::vector<std::byte> key, EncodeString(sorted[i].first, "key"));
    ASSIGN_OR_RETURN(std::vector<std::byte> value, EncodeString(sorted[i].second, "value"));
    ParentLocatorEntry e{static_cast<uint32_t>(item.size()),
                         static_cast<uint32_t>(item.size() + key.size()),
                         static_cast<uint16_t>(key.size()), static_cast<uint16_t>(value.size())};
    e.EncodeTo(std::span(item).subspan(ParentLocatorHeader::kSize + i * ParentLocatorEntry::kSize));
    item.insert(item.end(), key.begin(), key.end());
    item.insert(item.end(), value.begin(), value.end());
  }
  if (item.size() > kMaxMetadataItemLength) {
    return InvalidArgument("parent locator: " + std::to_string(item.size()) +
                           " bytes exceeds the 1 MiB item limit (MS-VHDX 2.6.1.2)");
  }
  return item;
}

std::optional<std::string_view> ParentLocator::Get(std::string_view key) const {
  for (const auto& [k, v] : entries) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

void ParentLocator::Set(std::string_view key, std::string_view value) {
  for (auto& [k, v] : entries) {
    if (k == key) {
      v = std::string(value);
      return;
    }
  }
  entries.emplace_back(std::string(key), std::string(value));
}

bool ParentLocator::Remove(std::string_view key) {
  auto it = std::find_if(entries.begin(), entries.end(),
                         [key](const auto& kv) { return kv.first == key; });
  if (it == entries.end()) return false;
  entries.erase(it);
  return true;
}

std::optional<Guid> ParentLocator::ParentLinkage() const {
  std::optional<std::string_view> v = Get(kParentLinkageKey);
  return v ? Guid::Parse(*v) : std::nullopt;
}

std::optional<Guid> ParentLocator::ParentLinkage2() const {
  std::optional<std::string_view> v = Get(kParentLinkage2Key);
  return v ? Guid::Parse(*v) : std::nullopt;
}

Status ParentLocator::ValidateVhdx() const {
  if (locator_type != kVhdxParentLocatorType) {
    return Unsupported("parent locator: type " + locator_type.ToString() +
                       " is not the VHDX locator type (MS-VHDX 2.6.2.6.1)");
  }
  if (!ParentLinkage()) {
    return Corrupt("parent locator: parent_linkage missing or not a GUID (MS-VHDX 2.6.2.6.3)");
  }
  if (Get(kParentLinkage2Key) && !ParentLinkage2()) {
    return Corrupt("parent locator: parent_linkage2 is not a GUID (MS-VHDX 2.6.2.6.3)");
  }
  if (!Get(kRelativePathKey) && !Get(kVolumePathKey) && !Get(kAbsoluteWin32PathKey)) {
    return Corrupt(
        "parent locator: no relative_path, volume_path or absolute_win32_path "
        "(MS-VHDX 2.6.2.6.3)");
  }
  return Status::Ok();
}

std::string ParentLocator::LinkageString(const Guid& guid) {
  std::string s = guid.ToString(/*braced=*/true);
  std::transform(s.begin(), s.end(), s.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  return s;
}

}  // namespace hvdisk::vhdx
