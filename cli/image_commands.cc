// Image commands: create, info.
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/disk_source.h"
#include "cli/size_parse.h"
#include "vhdx/image.h"
#include "vhdx/layout.h"

namespace hvdisk::cli {
namespace {

using Json = nlohmann::ordered_json;

// ---- create ------------------------------------------------------------------------------------

struct CreateArgs {
  std::string type = "dynamic";
  std::string block = "32M";
  uint32_t logical_sector = 512;
  uint32_t physical_sector = 4096;
  std::string file;
  std::string size;
};

Status ValidateCreate(const vhdx::CreateOptions& o) {
  if (!vhdx::IsValidBlockSize(o.block_size)) {
    return InvalidArgument("block size must be a power of two from 1M to 256M");
  }
  if (o.virtual_size == 0 || o.virtual_size % o.logical_sector_size != 0) {
    return InvalidArgument("size must be a non-zero multiple of the logical sector size (" +
                           std::to_string(o.logical_sector_size) + ")");
  }
  if (o.virtual_size > vhdx::kMaxVirtualDiskSize) {
    return InvalidArgument("size exceeds the VHDX maximum of 64 TiB");
  }
  return Status::Ok();
}

int RunCreate(const CreateArgs& a) {
  vhdx::CreateOptions o;
  o.type = a.type == "fixed" ? vhdx::DiskType::kFixed : vhdx::DiskType::kDynamic;
  o.virtual_size = CheckedSize(a.size);
  const uint64_t block = CheckedSize(a.block);
  o.block_size = block <= vhdx::kMaxBlockSize ? static_cast<uint32_t>(block) : 0;
  o.logical_sector_size = a.logical_sector;
  o.physical_sector_size = a.physical_sector;
  if (Status s = ValidateCreate(o); !s.ok()) return UsageError(s);
  if (Status s = vhdx::Image::Create(DefaultFileSystem(), a.file, o); !s.ok()) {
    return ReportError(s.WithContext("create " + a.file));
  }
  std::printf("Created '%s': %s VHDX, virtual size %s (%llu bytes), block size %s, sectors %u/%u\n",
              a.file.c_str(), a.type.c_str(), FormatSize(o.virtual_size).c_str(),
              static_cast<unsigned long long>(o.virtual_size), FormatSize(o.block_size).c_str(),
              o.logical_sector_size, o.physical_sector_size);
  return kExitOk;
}

void RegisterCreate(CLI::App& app) {
  auto a = std::make_shared<CreateArgs>();
  CLI::App* sub = app.add_subcommand("create", "Create a new VHDX image");
  sub->add_option("-t,--type", a->type, "fixed or dynamic (default dynamic)")
      ->check(CLI::IsMember({"fixed", "dynamic"}));
  sub->add_option("-b,--block-size", a->block, "Block size, 1M..256M (default 32M)")
      ->check(SizeValidator());
  sub->add_option("--logical-sector", a->logical_sector, "512 or 4096 (default 512)")
      ->check(CLI::IsMember({512, 4096}));
  sub->add_option("--physical-sector", a->physical_sector, "512 or 4096 (default 4096)")
      ->check(CLI::IsMember({512, 4096}));
  sub->add_option("FILE", a->file, "The image to create (must not exist)")->required();
  sub->add_option("SIZE", a->size, "Virtual size, e.g. 64M, 10G")
      ->required()
      ->check(SizeValidator());
  SetCommand(sub, [a] { return RunCreate(*a); });
}

// ---- info --------------------------------------------------------------------------------------

struct InfoArgs {
  bool json = false;
  std::string format;
  std::string file;
};

const char* TypeName(vhdx::DiskType t) {
  switch (t) {
    case vhdx::DiskType::kFixed:
      return "fixed";
    case vhdx::DiskType::kDynamic:
      return "dynamic";
    case vhdx::DiskType::kDifferencing:
      return "differencing";
  }
  return "unknown";
}

void AddFileSizes(const std::string& path, Json* j) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return;
  (*j)["file-size"] = static_cast<uint64_t>(st.st_size);
  (*j)["actual-size"] = static_cast<uint64_t>(st.st_blocks) * 512;
}

void AddImageInfo(vhdx::Image& img, Json* j) {
  (*j)["type"] = TypeName(img.type());
  (*j)["block-size"] = img.block_size();
  (*j)["logical-sector-size"] = img.logical_sector_size();
  (*j)["physical-sector-size"] = img.physical_sector_size();
  (*j)["virtual-disk-id"] = img.virtual_disk_id().ToString();
  (*j)["data-write-guid"] = img.data_write_guid().ToString();
  (*j)["file-write-guid"] = img.file_write_guid().ToString();
  (*j)["log-guid"] = img.log_guid().ToString();
  (*j)["allocated-blocks"] = img.allocated_blocks();
  (*j)["total-blocks"] = (img.virtual_size() + img.block_size() - 1) / img.block_size();
  if (!img.parent_locator().empty()) {
    Json locator = Json::object();
    for (const auto& [key, value] : img.parent_locator()) locator[key] = value;
    (*j)["parent-locator"] = locator;
  }
}

// "virtual size: 64 MiB (67108864 bytes)" for the size keys, "key: value" for the others.
void PrintInfoText(const Json& j) {
  for (const auto& [key, value] : j.items()) {
    std::string label = key;
    for (char& c : label) c = c == '-' ? ' ' : c;
    if (value.is_object()) {
      std::printf("%s:\n", label.c_str());
      for (const auto& [k, v] : value.items()) {
        std::printf("    %s: %s\n", k.c_str(), v.get<std::string>().c_str());
      }
    } else if (value.is_string()) {
      std::printf("%s: %s\n", label.c_str(), value.get<std::string>().c_str());
    } else if (label.find("size") != std::string::npos && label.find("sector") == label.npos) {
      const uint64_t n = value.get<uint64_t>();
      std::printf("%s: %s (%llu bytes)\n", label.c_str(), FormatSize(n).c_str(),
                  static_cast<unsigned long long>(n));
    } else {
      std::printf("%s: %s\n", label.c_str(), value.dump().c_str());
    }
  }
}

int RunInfo(const InfoArgs& a) {
  Result<DiskFormat> format = ParseFormat(a.format);
  if (!format.ok()) return UsageError(format.status());
  Result<std::unique_ptr<Disk>> disk = Disk::Open(a.file, {.format = *format});
  if (!disk.ok()) return ReportError(disk.status());
  Json j;
  j["filename"] = a.file;
  j["format"] = std::string(FormatName((*disk)->format()));
  j["virtual-size"] = (*disk)->size();
  AddFileSizes(a.file, &j);
  if (vhdx::Image* img = (*disk)->image()) AddImageInfo(*img, &j);
  if (a.json) {
    std::printf("%s\n", j.dump(4).c_str());
  } else {
    PrintInfoText(j);
  }
  return kExitOk;
}

void RegisterInfo(CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  CLI::App* sub = app.add_subcommand("info", "Show an image's type, sizes, GUIDs and locator");
  sub->add_flag("--json", a->json, "Print JSON (keys as qemu-img info where they exist)");
  AddFormatOption(sub, &a->format);
  sub->add_option("FILE", a->file, "The image")->required();
  SetCommand(sub, [a] { return RunInfo(*a); });
}

}  // namespace

void RegisterImageCommands(CLI::App& app) {
  RegisterCreate(app);
  RegisterInfo(app);
}

}  // namespace hvdisk::cli
