// Writes the fuzzers' seed corpora, every image made by Image::Create and written through Image:
//   OUT_DIR/open/<name>.vhdx  whole files (4-8 MiB) for vhdx_open_fuzzer
//   OUT_DIR/meta/<name>.bin   their first 4 MiB, for vhdx_meta_fuzzer
// Usage: vhdx_fuzz_seeds OUT_DIR. Prints the number of seeds; exits 1 on any error.
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "platform/mem_file_system.h"
#include "tests/fuzz/fuzz_image.h"
#include "vhdx/image.h"

namespace hvdisk::fuzz {
namespace {

using vhdx::CreateOptions;
using vhdx::DiskType;
using vhdx::Image;
using vhdx::kMiB;

constexpr char kPath[] = "/seed.vhdx";

struct Seed {
  std::string name;
  CreateOptions options;
  std::vector<std::pair<uint64_t, uint64_t>> writes;  // (offset, length)
  bool dirty = false;  // snapshot after Flush, before Close: LogGuid set, log entry present
};

std::vector<std::byte> Pattern(uint64_t length, uint64_t seed) {
  std::vector<std::byte> b(length);
  for (uint64_t i = 0; i < length; ++i) b[i] = static_cast<std::byte>((i * 7 + seed * 13) >> 3);
  return b;
}

CreateOptions Options(DiskType type, uint64_t size, uint32_t block, uint32_t sector) {
  CreateOptions o;
  o.type = type;
  o.virtual_size = size;
  o.block_size = block;
  o.logical_sector_size = sector;
  if (type == DiskType::kDifferencing) {
    o.parent_locator = {{"parent_linkage", "{01234567-89ab-cdef-0123-456789abcdef}"},
                        {"relative_path", ".\\parent.vhdx"},
                        {"absolute_win32_path", "C:\\vms\\parent.vhdx"}};
  }
  return o;
}

std::vector<Seed> Seeds() {
  return {
      {"dynamic_8m_1m_512",
       Options(DiskType::kDynamic, 8 * kMiB, kMiB, 512),
       {{0, 4096}, {3 * kMiB + 100, 5000}}},
      {"dynamic_4m_2m_4k", Options(DiskType::kDynamic, 4 * kMiB, 2 * kMiB, 4096), {{8192, 4096}}},
      {"dynamic_1m_empty", Options(DiskType::kDynamic, kMiB, kMiB, 512), {}},
      {"fixed_4m_1m_512", Options(DiskType::kFixed, 4 * kMiB, kMiB, 512), {{512, 1024}}},
      {"diff_4m_1m_512",
       Options(DiskType::kDifferencing, 4 * kMiB, kMiB, 512),
       {{512, 512}, {2 * kMiB, kMiB}}},
      {"dynamic_dirty_log",
       Options(DiskType::kDynamic, 8 * kMiB, kMiB, 512),
       {{0, 4096}, {5 * kMiB, 4096}},
       true},
      {"diff_dirty_log",
       Options(DiskType::kDifferencing, 4 * kMiB, kMiB, 4096),
       {{4096, 4096}},
       true},
  };
}

Result<std::string> Build(const Seed& seed) {
  MemFileSystem fs;
  RETURN_IF_ERROR(Image::Create(&fs, kPath, seed.options));
  ASSIGN_OR_RETURN(std::unique_ptr<Image> img, Image::Open(&fs, kPath, {.read_only = false}));
  for (auto [off, len] : seed.writes) RETURN_IF_ERROR(img->Write(off, Pattern(len, off)));
  RETURN_IF_ERROR(img->Flush());
  if (seed.dirty) return fs.GetFile(kPath);  // as a crash would leave it: LogGuid still set
  RETURN_IF_ERROR(img->Close());
  return fs.GetFile(kPath);
}

bool WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

int Main(const std::string& dir) {
  FileSystem* fs = DefaultFileSystem();
  if (!memfs::MakeDirs(fs, dir + "/open").ok() || !memfs::MakeDirs(fs, dir + "/meta").ok()) {
    std::fprintf(stderr, "vhdx_fuzz_seeds: cannot create %s/{open,meta}\n", dir.c_str());
    return 1;
  }
  int count = 0;
  for (const Seed& seed : Seeds()) {
    Result<std::string> bytes = Build(seed);
    if (!bytes.ok()) {
      std::fprintf(stderr, "vhdx_fuzz_seeds: %s: %s\n", seed.name.c_str(),
                   bytes.status().ToString().c_str());
      return 1;
    }
    std::string_view all(*bytes);
    if (!WriteFile(dir + "/open/" + seed.name + ".vhdx", all) ||
        !WriteFile(dir + "/meta/" + seed.name + ".bin", all.substr(0, kMetaAreaSize))) {
      std::fprintf(stderr, "vhdx_fuzz_seeds: cannot write the %s seed\n", seed.name.c_str());
      return 1;
    }
    ++count;
  }
  std::printf("vhdx_fuzz_seeds: %d seeds in %s\n", count, dir.c_str());
  return 0;
}

}  // namespace
}  // namespace hvdisk::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: vhdx_fuzz_seeds OUT_DIR\n");
    return 2;
  }
  return hvdisk::fuzz::Main(argv[1]);
}
