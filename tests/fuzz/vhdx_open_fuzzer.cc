// libFuzzer target: the input is a whole VHDX file. Run with -max_len=8388608 or more (seed
// images are 4-8 MiB); scripts/fuzz does.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/fuzz_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hvdisk::fuzz::ExerciseImage(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
