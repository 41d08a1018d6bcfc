// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of MS-VHDX §2.
// Hardware-accelerated through ISA-L's crc32_iscsi when the build has ISA-L, table-driven
// otherwise. Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hvdisk {

// Standard CRC-32C of data: initial value and final xor 0xFFFFFFFF. "123456789" -> 0xE3069283.
uint32_t Crc32c(std::span<const std::byte> data);
// Continues a CRC: Crc32cExtend(Crc32c(a), b) == Crc32c(a ++ b).
uint32_t Crc32cExtend(uint32_t crc, std::span<const std::byte> data);

// CRC-32C of `data` computed as if the 4 bytes at `checksum_offset` were zero: how every VHDX
// checksum is defined (header, region table, log entry). REQUIRES: checksum_offset + 4 <= size.
uint32_t Crc32cWithZeroedField(std::span<const std::byte> data, size_t checksum_offset);

// Crc32cExtend by the byte-wise table, whatever the build: the fallback without ISA-L, exposed so
// that a test can hold the two to the same values.
uint32_t Crc32cExtendByTable(uint32_t crc, std::span<const std::byte> data);

}  // namespace hvdisk
