#include "disk/disk_format.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "vhdx/format.h"

namespace hvdisk::disk {
namespace {

bool EndsWithNoCase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - suffix.size(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
}

}  // namespace

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kRaw:
      return "raw";
    case Format::kVhdx:
      return "vhdx";
    default:
      return "auto";
  }
}

Result<Format> ParseFormat(std::string_view name) {
  if (name.empty() || name == "auto") return Format::kAuto;
  if (name == "raw") return Format::kRaw;
  if (name == "vhdx") return Format::kVhdx;
  return InvalidArgument("unknown format '" + std::string(name) + "' (raw or vhdx)");
}

bool HasVhdxExtension(std::string_view path) {
  return EndsWithNoCase(path, ".vhdx") || EndsWithNoCase(path, ".avhdx");
}

Result<Format> DetectFormat(FileSystem* fs, const std::string& path, Format forced) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, OpenOptions::ReadOnly()));
  if (forced != Format::kAuto) return forced;
  std::byte sig[8] = {};
  ASSIGN_OR_RETURN(size_t n, file->ReadAt(0, sig));
  if (n == sizeof sig && vhdx::HasSignature(sig, 0, vhdx::kFileIdentifierSignature)) {
    return Format::kVhdx;
  }
  if (HasVhdxExtension(path)) {
    return Corrupt(path + ": named like a VHDX image but has no \"vhdxfile\" signature; " +
                   "refusing to read it as raw (use -f raw to force)");
  }
  return Format::kRaw;
}

}  // namespace hvdisk::disk
