#include "vhdx/file_identifier.h"

#include <algorithm>
#include <cstring>

#include "vhdx/format.h"
#include "vhdx/parent_locator.h"

namespace hvdisk::vhdx {

Result<FileIdentifier> FileIdentifier::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() < kEncodedSize) {
    return Corrupt("file identifier: " + std::to_string(bytes.size()) + " bytes, need " +
                   std::to_string(kEncodedSize) + " (MS-VHDX 2.2.1)");
  }
  if (!HasSignature(bytes, 0, kFileIdentifierSignature)) {
    return Corrupt("file identifier: signature is not \"vhdxfile\" (MS-VHDX 2.2.1)");
  }
  std::span<const std::byte> creator = bytes.subspan(kSignatureSize, kCreatorSize);
  size_t units = 0;
  while (units < kCreatorSize / 2 && LoadU16(creator, 2 * units) != 0) ++units;
  FileIdentifier id;
  id.creator = *Utf16LeToUtf8(creator.first(2 * units), /*lossy=*/true);
  return id;
}

void FileIdentifier::EncodeTo(std::span<std::byte> out) const {
  std::fill(out.begin(), out.end(), std::byte{0});
  StoreSignature(out, 0, kFileIdentifierSignature);
  std::vector<std::byte> utf16 = Utf8ToUtf16Le(creator, /*lossy=*/true).value();
  size_t n = std::min(utf16.size(), kCreatorSize);
  // Do not cut a surrogate pair in half.
  if (n >= 2 && n < utf16.size() && (LoadU16(utf16, n - 2) & 0xFC00) == 0xD800) n -= 2;
  std::memcpy(out.data() + kSignatureSize, utf16.data(), n);
}

}  // namespace hvdisk::vhdx
