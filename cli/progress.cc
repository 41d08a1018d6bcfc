#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace hvdisk::cli {

Progress::Progress(std::string label, uint64_t total, bool json)
    : label_(std::move(label)), total_(total), enabled_(!json && isatty(STDERR_FILENO) == 1) {
  Percent(0);
}

Progress::~Progress() { Finish(); }

void Progress::Update(uint64_t done) {
  if (!enabled_) return;
  if (total_ == 0 || done >= total_) return Percent(100);
  Percent(static_cast<int>(static_cast<double>(done) * 100.0 / static_cast<double>(total_)));
}

void Progress::Percent(int percent) {
  if (!enabled_ || percent == shown_) return;
  shown_ = std::clamp(percent, 0, 100);
  std::fprintf(stderr, "\r%s: %3d%%", label_.c_str(), shown_);
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::Finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace hvdisk::cli
