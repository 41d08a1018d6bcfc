// Layout constants of the VHDX format ([MS-VHDX] rev 8.0) and the byte helpers its codecs share.
//
// Everything here is a constant or a pure inline function: no I/O, no state. Section numbers
// ("§2.2.3") refer to [MS-VHDX]. Signatures are compared as ASCII bytes, never as integers
// (the spec writes some of them in both byte orders).
// Thread-safe: constants and pure functions only.
#pragma once

#include <boost/endian/conversion.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "platform/guid.h"

namespace hvdisk::vhdx {

// ---- Units -------------------------------------------------------------------------------------

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;
inline constexpr uint64_t kTiB = 1024 * kGiB;

// ---- Header section (§2.1, §2.2): five 64 KiB slots in the first 1 MiB -------------------------

inline constexpr uint64_t kSlotSize = 64 * kKiB;
inline constexpr uint64_t kFileIdentifierOffset = 0;
inline constexpr uint64_t kHeader1Offset = 1 * kSlotSize;       // 64 KiB
inline constexpr uint64_t kHeader2Offset = 2 * kSlotSize;       // 128 KiB
inline constexpr uint64_t kRegionTable1Offset = 3 * kSlotSize;  // 192 KiB
inline constexpr uint64_t kRegionTable2Offset = 4 * kSlotSize;  // 256 KiB
inline constexpr uint64_t kHeaderSectionSize = 1 * kMiB;
// Every object (regions, log, blocks) is aligned to this and must not overlap (§2.1).
inline constexpr uint64_t kObjectAlignment = 1 * kMiB;

// ---- Signatures (ASCII bytes as stored) --------------------------------------------------------

inline constexpr std::string_view kFileIdentifierSignature = "vhdxfile";  // §2.2.1
inline constexpr std::string_view kHeaderSignature = "head";              // §2.2.2
inline constexpr std::string_view kRegionTableSignature = "regi";         // §2.2.3.1
inline constexpr std::string_view kLogEntrySignature = "loge";            // §2.3.1.1
inline constexpr std::string_view kZeroDescriptorSignature = "zero";      // §2.3.1.2
inline constexpr std::string_view kDataDescriptorSignature = "desc";      // §2.3.1.3
inline constexpr std::string_view kDataSectorSignature = "data";          // §2.3.1.4
inline constexpr std::string_view kMetadataTableSignature = "metadata";   // §2.6.1.1

// ---- Versions (§2.2.2) -------------------------------------------------------------------------

inline constexpr uint16_t kVhdxVersion = 1;  // "VHDX version 2" is stored as 1 (§1.6)
inline constexpr uint16_t kLogVersion = 0;

// ---- Known region GUIDs (§2.2.3.2), both Required ----------------------------------------------

// 2DC27766-F623-4200-9D64-115E9BFD4A08
inline constexpr Guid kBatRegionGuid{
    0x2DC27766, 0xF623, 0x4200, {0x9D, 0x64, 0x11, 0x5E, 0x9B, 0xFD, 0x4A, 0x08}};
// 8B7CA206-4790-4B9A-B8FE-575F050F886E
inline constexpr Guid kMetadataRegionGuid{
    0x8B7CA206, 0x4790, 0x4B9A, {0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E}};

// ---- Known metadata item GUIDs (§2.6.2) --------------------------------------------------------

// CAA16737-FA36-4D43-B3B6-33F0AA44E76B
inline constexpr Guid kFileParametersGuid{
    0xCAA16737, 0xFA36, 0x4D43, {0xB3, 0xB6, 0x33, 0xF0, 0xAA, 0x44, 0xE7, 0x6B}};
// 2FA54224-CD1B-4876-B211-5DBED83BF4B8 (not ...-5BE07A6CE32C: that crate is wrong)
inline constexpr Guid kVirtualDiskSizeGuid{
    0x2FA54224, 0xCD1B, 0x4876, {0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8}};
// BECA12AB-B2E6-4523-93EF-C309E000C746 (v1.00 name "Page 83 Data")
inline constexpr Guid kVirtualDiskIdGuid{
    0xBECA12AB, 0xB2E6, 0x4523, {0x93, 0xEF, 0xC3, 0x09, 0xE0, 0x00, 0xC7, 0x46}};
// 8141BF1D-A96F-4709-BA47-F233A8FAAB5F
inline constexpr Guid kLogicalSectorSizeGuid{
    0x8141BF1D, 0xA96F, 0x4709, {0xBA, 0x47, 0xF2, 0x33, 0xA8, 0xFA, 0xAB, 0x5F}};
// CDA348C7-445D-4471-9CC9-E9885251C556
inline constexpr Guid kPhysicalSectorSizeGuid{
    0xCDA348C7, 0x445D, 0x4471, {0x9C, 0xC9, 0xE9, 0x88, 0x52, 0x51, 0xC5, 0x56}};
// A8D35F2D-B30B-454D-ABF7-D3D84834AB0C
inline constexpr Guid kParentLocatorGuid{
    0xA8D35F2D, 0xB30B, 0x454D, {0xAB, 0xF7, 0xD3, 0xD8, 0x48, 0x34, 0xAB, 0x0C}};

// The VHDX parent locator type (§2.6.2.6.3): B04AEFB7-D19E-4A81-B789-25B8E9445913
inline constexpr Guid kVhdxParentLocatorType{
    0xB04AEFB7, 0xD19E, 0x4A81, {0xB7, 0x89, 0x25, 0xB8, 0xE9, 0x44, 0x59, 0x13}};

// ---- Limits ------------------------------------------------------------------------------------

inline constexpr uint32_t kMaxRegionEntries = 2047;           // §2.2.3.1
inline constexpr uint32_t kMaxMetadataEntries = 2047;         // §2.6.1.1
inline constexpr uint32_t kMaxUserMetadataEntries = 1024;     // §2.6.1.2 IsUser
inline constexpr uint64_t kMetadataTableSize = 64 * kKiB;     // §2.6: items start at >= 64 KiB
inline constexpr uint64_t kMaxMetadataItemLength = 1 * kMiB;  // §2.6.1.2
inline constexpr uint32_t kMinBlockSize = 1 * kMiB;           // §2.6.2.1, power of 2
inline constexpr uint32_t kMaxBlockSize = 256 * kMiB;
inline constexpr uint64_t kMaxVirtualDiskSize = 64 * kTiB;  // §2.6.2.2
inline constexpr uint32_t kSectorSize512 = 512;             // §2.6.2.4, §2.6.2.5
inline constexpr uint32_t kSectorSize4096 = 4096;
inline constexpr uint32_t kLogSectorSize = 4 * kKiB;  // §2.3.1

inline constexpr bool IsValidSectorSize(uint64_t size) {
  return size == kSectorSize512 || size == kSectorSize4096;
}
inline constexpr bool IsPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
inline constexpr bool IsValidBlockSize(uint64_t size) {
  return IsPowerOfTwo(size) && size >= kMinBlockSize && size <= kMaxBlockSize;
}

// ---- BAT states (§2.5.1.1, §2.5.1.2) -----------------------------------------------------------

enum class PayloadState : uint8_t {
  kNotPresent = 0,        // PAYLOAD_BLOCK_NOT_PRESENT
  kUndefined = 1,         // PAYLOAD_BLOCK_UNDEFINED
  kZero = 2,              // PAYLOAD_BLOCK_ZERO
  kUnmapped = 3,          // PAYLOAD_BLOCK_UNMAPPED (v0.95 used 5; qemu still reads 5 as zero)
  kFullyPresent = 6,      // PAYLOAD_BLOCK_FULLY_PRESENT
  kPartiallyPresent = 7,  // PAYLOAD_BLOCK_PARTIALLY_PRESENT, differencing only
};

enum class SectorBitmapState : uint8_t {
  kNotPresent = 0,  // SB_BLOCK_NOT_PRESENT
  kPresent = 6,     // SB_BLOCK_PRESENT, differencing only
};

// The three kinds of VHDX file (§2.5.1.1 tables).
enum class DiskType : uint8_t { kFixed, kDynamic, kDifferencing };

// A sector bitmap block is 1 MiB and covers 2^23 logical sectors: one chunk (§2.4.2).
inline constexpr uint64_t kSectorBitmapBlockSize = 1 * kMiB;
inline constexpr uint64_t kSectorsPerChunk = uint64_t{1} << 23;

// ceil(a / b). REQUIRES: b > 0.
inline constexpr uint64_t DivRoundUp(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

// Payload blocks per sector bitmap block (§2.5): (2^23 * LogicalSectorSize) / BlockSize, e.g.
// 4096 at 512-byte sectors with 1 MiB blocks, 16 at 512 with 256 MiB.
// REQUIRES: IsValidSectorSize(logical_sector_size) and IsValidBlockSize(block_size).
inline constexpr uint64_t ChunkRatio(uint64_t logical_sector_size, uint64_t block_size) {
  return kSectorsPerChunk * logical_sector_size / block_size;
}

// ---- Byte helpers for the codecs (callers check sizes first) -----------------------------------

inline const unsigned char* BytePtr(std::span<const std::byte> b, size_t off) {
  return reinterpret_cast<const unsigned char*>(b.data() + off);
}
inline unsigned char* BytePtr(std::span<std::byte> b, size_t off) {
  return reinterpret_cast<unsigned char*>(b.data() + off);
}
inline uint16_t LoadU16(std::span<const std::byte> b, size_t off) {
  return boost::endian::load_little_u16(BytePtr(b, off));
}
inline uint32_t LoadU32(std::span<const std::byte> b, size_t off) {
  return boost::endian::load_little_u32(BytePtr(b, off));
}
inline uint64_t LoadU64(std::span<const std::byte> b, size_t off) {
  return boost::endian::load_little_u64(BytePtr(b, off));
}
inline void StoreU16(std::span<std::byte> b, size_t off, uint16_t v) {
  boost::endian::store_little_u16(BytePtr(b, off), v);
}
inline void StoreU32(std::span<std::byte> b, size_t off, uint32_t v) {
  boost::endian::store_little_u32(BytePtr(b, off), v);
}
inline void StoreU64(std::span<std::byte> b, size_t off, uint64_t v) {
  boost::endian::store_little_u64(BytePtr(b, off), v);
}
inline Guid LoadGuid(std::span<const std::byte> b, size_t off) {
  return Guid::Decode(b.subspan(off).first<Guid::kEncodedSize>());
}
inline void StoreGuid(std::span<std::byte> b, size_t off, const Guid& g) {
  g.EncodeTo(b.subspan(off).first<Guid::kEncodedSize>());
}
inline bool HasSignature(std::span<const std::byte> b, size_t off, std::string_view sig) {
  return b.size() >= off + sig.size() && std::memcmp(b.data() + off, sig.data(), sig.size()) == 0;
}
inline void StoreSignature(std::span<std::byte> b, size_t off, std::string_view sig) {
  std::memcpy(b.data() + off, sig.data(), sig.size());
}

}  // namespace hvdisk::vhdx
