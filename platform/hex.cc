#include "platform/hex.h"

#include <cstdio>

namespace hvdisk {

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace hvdisk
