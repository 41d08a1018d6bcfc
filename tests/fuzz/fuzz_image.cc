#include "tests/fuzz/fuzz_image.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "platform/mem_file_system.h"
#include "vhdx/image.h"

namespace hvdisk::fuzz {
namespace {

using vhdx::Image;
using vhdx::ImageOpenOptions;

constexpr char kPath[] = "/fuzz.vhdx";
constexpr uint64_t kReadChunk = 256 * 1024;  // 4 reads: 1 MiB at most per input
constexpr uint64_t kMapLength = uint64_t{64} << 20;

// Up to 4 ranges of at most `len` bytes: the start, the middle, an unaligned one and the end.
std::vector<std::pair<uint64_t, uint64_t>> Ranges(uint64_t size, uint64_t len) {
  len = std::min(len, size);
  std::vector<std::pair<uint64_t, uint64_t>> r = {{0, len}, {size - len, len}};
  uint64_t mid = size / 2;
  r.push_back({mid, std::min(len, size - mid)});
  if (size > 1000) r.push_back({777, std::min<uint64_t>(len, size - 777)});
  return r;
}

void ReadOnly(FileSystem* fs) {
  auto img = Image::Open(fs, kPath, ImageOpenOptions{.read_only = true});
  if (!img.ok()) return;
  Image& image = **img;
  std::vector<std::byte> buf(kReadChunk);
  for (auto [off, len] : Ranges(image.virtual_size(), kReadChunk)) {
    (void)image.Read(off, std::span(buf).first(len));
  }
  uint64_t vs = image.virtual_size();
  (void)image.Map(0, std::min(vs, kMapLength));
  (void)image.Map(vs - std::min(vs, kMapLength), std::min(vs, kMapLength));
  (void)image.parent_locator();
  (void)image.allocated_blocks();
}

void ReadWrite(FileSystem* fs) {
  auto img = Image::Open(fs, kPath, ImageOpenOptions{.read_only = false});
  if (!img.ok()) return;
  Image& image = **img;
  uint64_t vs = image.virtual_size();
  std::vector<std::byte> data(std::min<uint64_t>(vs, 6000), std::byte{0x5a});
  for (auto [off, len] : Ranges(vs, data.size())) {
    if (!image.Write(off, std::span(data).first(len)).ok()) break;
  }
  if (!image.Flush().ok()) return;
  (void)image.Read(0, std::span(data));
  (void)image.Close();
}

}  // namespace

void ExerciseImage(std::string_view file) {
  MemFileSystem fs;
  if (!fs.PutFile(kPath, file).ok()) return;
  ReadOnly(&fs);
  (void)Image::Check(&fs, kPath);
  ReadWrite(&fs);  // changes the in-memory copy only
  ReadOnly(&fs);
}

}  // namespace hvdisk::fuzz
