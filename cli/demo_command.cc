// demo: an end-to-end run of the image layer that an operator can watch. It creates a dynamic
// VHDX, writes patterns at aligned, unaligned and block-straddling offsets, reads them back,
// flushes and closes, reopens read-only, checks the file clean and compares the content digest
// with the one of an in-memory model. Ends with "demo: PASS ..." (exit 0) or "demo: FAIL ..."
// (exit 1).
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cli/chunk_reader.h"
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/disk_source.h"
#include "cli/size_parse.h"
#include "platform/digest.h"
#include "vhdx/image.h"
#include "vhdx/layout.h"

namespace hvdisk::cli {
namespace {

using vhdx::kKiB;
using vhdx::kMiB;

constexpr uint64_t kDemoSize = 64 * kMiB;
constexpr uint32_t kDemoBlock = 1 * kMiB;

struct DemoWrite {
  uint64_t offset;
  size_t length;
};

// Aligned, sector-unaligned, block-straddling and last-block writes.
constexpr DemoWrite kWrites[] = {
    {0, 4 * kKiB},         {kMiB - 512, 1 * kKiB}, {5 * kMiB + 12345, 100000},
    {20 * kMiB, 3 * kMiB}, {40 * kMiB + 7, 1},     {kDemoSize - kMiB, kMiB},
};

std::vector<std::byte> Pattern(size_t size, uint64_t seed) {
  std::vector<std::byte> out(size);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (std::byte& b : out) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = std::byte(x >> 24);
  }
  return out;
}

// Writes every pattern into the image and the model, then reads each back.
Status WriteAndVerify(vhdx::Image* image, std::vector<std::byte>* model) {
  uint64_t seed = 1;
  for (const DemoWrite& w : kWrites) {
    std::vector<std::byte> data = Pattern(w.length, seed++);
    RETURN_IF_ERROR(image->Write(w.offset, data));
    std::memcpy(model->data() + w.offset, data.data(), data.size());
  }
  for (const DemoWrite& w : kWrites) {
    std::vector<std::byte> back(w.length);
    RETURN_IF_ERROR(image->Read(w.offset, back));
    if (std::memcmp(back.data(), model->data() + w.offset, w.length) != 0) {
      return Corrupt("read back differs at offset " + std::to_string(w.offset));
    }
  }
  std::printf("wrote and read back %zu patterns\n", std::size(kWrites));
  return Status::Ok();
}

Status CreateAndWrite(const std::string& path, std::vector<std::byte>* model) {
  FileSystem* fs = DefaultFileSystem();
  vhdx::CreateOptions o;
  o.type = vhdx::DiskType::kDynamic;
  o.virtual_size = kDemoSize;
  o.block_size = kDemoBlock;
  RETURN_IF_ERROR(vhdx::Image::Create(fs, path, o));
  std::printf("created %s: dynamic, %s, block %s\n", path.c_str(), FormatSize(kDemoSize).c_str(),
              FormatSize(kDemoBlock).c_str());
  ASSIGN_OR_RETURN(std::unique_ptr<vhdx::Image> image,
                   vhdx::Image::Open(fs, path, {.read_only = false}));
  RETURN_IF_ERROR(WriteAndVerify(image.get(), model));
  RETURN_IF_ERROR(image->Flush());
  RETURN_IF_ERROR(image->Close());
  std::printf("flushed and closed\n");
  return Status::Ok();
}

Status CheckClean(const std::string& path) {
  ASSIGN_OR_RETURN(vhdx::CheckReport report, vhdx::Image::Check(DefaultFileSystem(), path));
  for (const std::string& c : report.corruptions) std::printf("check: ERROR %s\n", c.c_str());
  for (const std::string& l : report.leaks) std::printf("check: leak %s\n", l.c_str());
  if (!report.corruptions.empty() || !report.leaks.empty()) {
    return Corrupt("check found " + std::to_string(report.corruptions.size()) +
                   " corruptions and " + std::to_string(report.leaks.size()) + " leaks");
  }
  std::printf("check: clean, %llu/%llu blocks allocated\n",
              static_cast<unsigned long long>(report.allocated_blocks),
              static_cast<unsigned long long>(report.total_blocks));
  return Status::Ok();
}

// Reopens read-only and compares the content digest with the model's.
Status VerifyDigest(const std::string& path, const std::vector<std::byte>& model,
                    std::string* hex) {
  ASSIGN_OR_RETURN(std::unique_ptr<Disk> disk, Disk::Open(path, {.format = DiskFormat::kVhdx}));
  ASSIGN_OR_RETURN(Hash128 actual, DigestDisk(disk.get()));
  const Hash128 expected = Xxh3_128(model);
  *hex = actual.ToHex();
  std::printf("digest (image): %s\ndigest (model): %s\n", hex->c_str(), expected.ToHex().c_str());
  if (!(actual == expected)) return Corrupt("the image's content digest differs from the model's");
  return Status::Ok();
}

Status RunDemoSteps(const std::string& dir, std::string* hex) {
  FileSystem* fs = DefaultFileSystem();
  RETURN_IF_ERROR(fs->CreateDir(dir));
  const std::string path = JoinPath(dir, "demo.vhdx");
  ASSIGN_OR_RETURN(bool exists, fs->Exists(path));
  if (exists) RETURN_IF_ERROR(fs->Unlink(path));  // a previous run's image
  std::vector<std::byte> model(kDemoSize);
  RETURN_IF_ERROR(CreateAndWrite(path, &model));
  RETURN_IF_ERROR(CheckClean(path));
  return VerifyDigest(path, model, hex);
}

int RunDemo(const std::string& dir) {
  std::string hex;
  Status s = RunDemoSteps(dir, &hex);
  if (!s.ok()) {
    std::printf("demo: FAIL %s\n", s.ToString().c_str());
    return kExitFailure;
  }
  std::printf("demo: PASS image written, read back, closed, checked clean; digest %s\n",
              hex.c_str());
  return kExitOk;
}

}  // namespace

void RegisterDemoCommand(CLI::App& app) {
  auto dir = std::make_shared<std::string>("./hvdisk-demo");
  CLI::App* sub = app.add_subcommand("demo", "Run the end-to-end image demo in DIR");
  sub->add_option("DIR", *dir, "Working directory (default ./hvdisk-demo)");
  SetCommand(sub, [dir] { return RunDemo(*dir); });
}

}  // namespace hvdisk::cli
