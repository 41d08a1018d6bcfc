#include "cli/qemu_options.h"

#include <sys/stat.h>

#include "cli/size_parse.h"

namespace hvdisk::cli {
namespace {

constexpr uint64_t kLogSize = 1 << 20;  // vhdx::Image::Create's log

Status SetOption(std::string_view key, const std::string& value, ImageOptions* o) {
  if (key == "subformat") {
    if (value != "fixed" && value != "dynamic") {
      return InvalidArgument("-o subformat=" + value + ": fixed or dynamic");
    }
    o->subformat = value;
    return Status::Ok();
  }
  if (key == "block_size") {
    if (!ParseSize(value).ok()) return InvalidArgument("-o block_size=" + value + ": not a size");
    o->block_size = value;
    return Status::Ok();
  }
  Result<uint64_t> n = ParseSize(value);
  if (!n.ok()) return InvalidArgument("-o " + std::string(key) + "=" + value + ": not a size");
  if (key == "logical_sector_size") {
    if (*n != 512 && *n != 4096) {
      return InvalidArgument("-o logical_sector_size=" + value + ": 512 or 4096");
    }
    o->logical_sector_size = static_cast<uint32_t>(*n);
    return Status::Ok();
  }
  if (key == "log_size") {
    if (*n != kLogSize) return InvalidArgument("-o log_size=" + value + ": hvdisk writes a 1M log");
    o->log_size = *n;
    return Status::Ok();
  }
  return InvalidArgument("-o " + std::string(key) +
                         ": unknown option (subformat, block_size, log_size, "
                         "logical_sector_size)");
}

}  // namespace

Result<ImageOptions> ParseImageOptions(std::string_view text) {
  ImageOptions o;
  while (!text.empty()) {
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgument("-o " + std::string(item) + ": expected key=value");
    }
    RETURN_IF_ERROR(SetOption(item.substr(0, eq), std::string(item.substr(eq + 1)), &o));
  }
  return o;
}

Status CheckBackingIsNotABlockSize(const std::string& value) {
  struct stat st;
  if (lstat(value.c_str(), &st) == 0 || !ParseSize(value).ok()) return Status::Ok();
  return InvalidArgument("-b " + value +
                         ": no such backing file (-b names the backing file, as in qemu-img); "
                         "did you mean --block-size " +
                         value + "?");
}

}  // namespace hvdisk::cli
