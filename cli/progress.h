// Progress of a long operation on stderr: one line ("convert: 42%") rewritten in place and
// erased at the end. Shown only when stderr is a terminal and the command prints no JSON, so
// pipes, logs and --json consumers never see it. One object per operation, used from one thread.
#pragma once

#include <cstdint>
#include <string>

namespace hvdisk::cli {

class Progress {
 public:
  // `label` heads the line; `total` is the unit count Update() counts towards (0: percents only).
  // Disabled when `json` or when stderr is not a terminal.
  Progress(std::string label, uint64_t total, bool json);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` units out of `total`; redraws the line when the whole percent changes.
  void Update(uint64_t done);
  // A percentage (0..100) reported by the operation itself (ops::OpControl::progress).
  void Percent(int percent);
  // Erases the line (the destructor does it too).
  void Finish();

  bool enabled() const { return enabled_; }

 private:
  const std::string label_;
  const uint64_t total_;
  const bool enabled_;
  int shown_ = -1;
  bool drawn_ = false;
};

}  // namespace hvdisk::cli
