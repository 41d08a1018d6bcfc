#include "ops/pause_point.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace hvdisk::ops {

void PausePoint(std::string_view step) {
  const char* at = std::getenv("HVDISK_PAUSE_AT");
  if (at == nullptr || step != at) return;
  unsigned seconds = 30;
  if (const char* s = std::getenv("HVDISK_PAUSE_SECONDS"); s != nullptr) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s, s + std::strlen(s), v);
    if (ec == std::errc() && *end == '\0') seconds = std::min(v, 3600u);
  }
  std::fprintf(stderr, "hvdisk: paused at %.*s (pid %d)\n", static_cast<int>(step.size()),
               step.data(), static_cast<int>(getpid()));
  std::fflush(stderr);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
}

}  // namespace hvdisk::ops
