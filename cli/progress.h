// Progress of a long operation on stderr: one line rewritten in place and erased at the end,
// "convert: 44% 1.2/2.7 GiB 640 MiB/s ETA 0:03" when the operation counts bytes, "commit: 42%"
// when it reports percents. Shown only when stderr is a terminal and the command prints no JSON,
// so pipes, logs and --json consumers never see it, unless forced on (-p) or off (-q). One object
// per operation, used from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace hvdisk::cli {

// The line for `done` of `total` bytes after `seconds`: "convert: 44% 1.2/2.7 GiB 640 MiB/s ETA
// 0:03" (no rate nor ETA before a tenth of a second has passed).
std::string ProgressLine(const std::string& label, uint64_t done, uint64_t total, double seconds);

class Progress {
 public:
  // -p (true) shows the line even off a terminal, -q (false) never; nullopt: the default.
  // Set once while parsing arguments, before any Progress exists.
  static void Force(std::optional<bool> on);

  // `label` heads the line; `total` is the byte count Update() counts towards (0: percents only).
  // Disabled when `json`, or when stderr is not a terminal (unless forced).
  Progress(std::string label, uint64_t total, bool json);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` bytes out of `total`; redraws the line when the whole percent changes.
  void Update(uint64_t done);
  // A percentage (0..100) reported by the operation itself (ops::OpControl::progress).
  void Percent(int percent);
  // Erases the line (the destructor does it too).
  void Finish();

  bool enabled() const { return enabled_; }

 private:
  void Draw(const std::string& line);

  const std::string label_;
  const uint64_t total_;
  const bool enabled_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  int shown_ = -1;
  bool drawn_ = false;
};

}  // namespace hvdisk::cli
