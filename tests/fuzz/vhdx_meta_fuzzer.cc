// libFuzzer target: the input is the first 4 MiB of a VHDX file (file identifier, headers, region
// tables, log @1 MiB, metadata @2 MiB, BAT @3 MiB), padded with zeros or cut to exactly 4 MiB; a
// fixed 4 MiB of patterned payload follows, so BAT entries pointing there are in the file while
// the mutations stay on the structures. Seeds: the first 4 MiB of the open fuzzer's seeds.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_image.h"

namespace {

const std::string& PayloadArea() {
  static const std::string* payload = [] {
    auto* p = new std::string(hvdisk::fuzz::kPayloadAreaSize, '\0');
    for (size_t i = 0; i < p->size(); ++i) (*p)[i] = static_cast<char>((i * 131) >> 9);
    return p;
  }();
  return *payload;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using hvdisk::fuzz::kMetaAreaSize;
  std::string file(reinterpret_cast<const char*>(data), std::min<size_t>(size, kMetaAreaSize));
  file.resize(kMetaAreaSize, '\0');
  file += PayloadArea();
  hvdisk::fuzz::ExerciseImage(file);
  return 0;
}
