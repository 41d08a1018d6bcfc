#include "ops/change_set.h"

#include <cstring>

#include "platform/digest.h"
#include "vhdx/layout.h"

namespace hvdisk::ops {
namespace {

using vhdx::LoadU32;
using vhdx::LoadU64;

constexpr size_t kHeaderSize = 24;
constexpr size_t kExtentHeaderSize = 16;
constexpr size_t kTrailerSize = 8;

void AppendU64(std::string* out, uint64_t v) {
  std::byte b[8];
  vhdx::StoreU64(b, 0, v);
  out->append(reinterpret_cast<const char*>(b), 8);
}

}  // namespace

std::string EncodeChangeSet(std::span<const ChangeExtent> extents, uint64_t virtual_size) {
  std::string out(kChangeSetMagic, 8);
  std::byte b[8];
  vhdx::StoreU32(b, 0, kChangeSetVersion);
  vhdx::StoreU32(b, 4, static_cast<uint32_t>(extents.size()));
  out.append(reinterpret_cast<const char*>(b), 8);
  AppendU64(&out, virtual_size);
  for (const ChangeExtent& e : extents) {
    AppendU64(&out, e.offset);
    AppendU64(&out, e.data.size());
    out.append(reinterpret_cast<const char*>(e.data.data()), e.data.size());
  }
  AppendU64(&out, Xxh3_64(std::as_bytes(std::span(out))));
  return out;
}

Result<ChangeSet> ChangeSet::Decode(std::string bytes, std::string_view where) {
  const std::string ctx = std::string(where) + ": change set: ";
  std::span<const std::byte> all = std::as_bytes(std::span(bytes));
  if (all.size() < kHeaderSize + kTrailerSize || std::memcmp(bytes.data(), kChangeSetMagic, 8)) {
    return Corrupt(ctx + "bad magic or too short (" + std::to_string(all.size()) + " bytes)");
  }
  std::span<const std::byte> body = all.first(all.size() - kTrailerSize);
  if (Xxh3_64(body) != LoadU64(all, body.size())) return Corrupt(ctx + "checksum mismatch");
  if (LoadU32(all, 8) != kChangeSetVersion) {
    return Unsupported(ctx + "version " + std::to_string(LoadU32(all, 8)));
  }
  ChangeSet set;
  const uint32_t count = LoadU32(all, 12);
  set.virtual_size_ = LoadU64(all, 16);
  size_t pos = kHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    if (body.size() - pos < kExtentHeaderSize) return Corrupt(ctx + "extent header past the end");
    const uint64_t offset = LoadU64(all, pos);
    const uint64_t length = LoadU64(all, pos + 8);
    pos += kExtentHeaderSize;
    if (length > body.size() - pos) return Corrupt(ctx + "extent data past the end");
    set.entries_.push_back({offset, pos, static_cast<size_t>(length)});
    pos += length;
  }
  if (pos != body.size()) return Corrupt(ctx + "trailing bytes after the last extent");
  set.bytes_ = std::move(bytes);
  return set;
}

std::vector<ChangeExtent> ChangeSet::extents() const {
  std::vector<ChangeExtent> out;
  std::span<const std::byte> all = std::as_bytes(std::span(bytes_));
  for (const Entry& e : entries_) out.push_back({e.offset, all.subspan(e.pos, e.length)});
  return out;
}

Result<ChangeSet> ReadChangeSet(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(fs, path, 16ull << 30));
  return ChangeSet::Decode(std::move(bytes), path);
}

}  // namespace hvdisk::ops
