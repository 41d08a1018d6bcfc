#include "cli/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace hvdisk::cli {
namespace {

std::optional<bool>& Forced() {
  static std::optional<bool> forced;
  return forced;
}

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = 1024.0 * kMiB;

// "0:03", "12:09", "1:02:03".
std::string Clock(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

std::string ProgressLine(const std::string& label, uint64_t done, uint64_t total, double seconds) {
  done = std::min(done, total);
  const int percent =
      total == 0 ? 100 : static_cast<int>(static_cast<double>(done) * 100.0 / double(total));
  const bool gib = total >= 1024 * 1024 * 1024ull;
  const double unit = gib ? kGiB : kMiB;
  char buf[160];
  int n = std::snprintf(buf, sizeof buf, "%s: %3d%% %.1f/%.1f %s", label.c_str(), percent,
                        double(done) / unit, double(total) / unit, gib ? "GiB" : "MiB");
  if (seconds >= 0.1 && n > 0 && static_cast<size_t>(n) < sizeof buf) {
    const double rate = double(done) / seconds;
    std::string eta = rate > 0 ? Clock(double(total - done) / rate) : "-";
    std::snprintf(buf + n, sizeof buf - n, " %.0f MiB/s ETA %s", rate / kMiB, eta.c_str());
  }
  return buf;
}

void Progress::Force(std::optional<bool> on) { Forced() = on; }

Progress::Progress(std::string label, uint64_t total, bool json)
    : label_(std::move(label)),
      total_(total),
      enabled_(!json && Forced().value_or(isatty(STDERR_FILENO) == 1)) {
  Percent(0);
}

Progress::~Progress() { Finish(); }

void Progress::Update(uint64_t done) {
  if (!enabled_) return;
  if (total_ == 0) return Percent(100);
  const int percent =
      done >= total_ ? 100 : static_cast<int>(double(done) * 100.0 / double(total_));
  if (percent == shown_) return;
  shown_ = percent;
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start_;
  Draw(ProgressLine(label_, done, total_, elapsed.count()));
}

void Progress::Percent(int percent) {
  if (!enabled_ || percent == shown_) return;
  shown_ = std::clamp(percent, 0, 100);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%3d%%", shown_);
  Draw(label_ + ": " + buf);
}

void Progress::Draw(const std::string& line) {
  std::fprintf(stderr, "\r%s\033[K", line.c_str());
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
