#include "disk/writeback.h"

#include <exception>

namespace hvdisk::disk {

Writeback::Writeback(VirtualDisk* disk, uint64_t interval) : disk_(disk), interval_(interval) {}

Writeback::~Writeback() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Writeback::Start() {
  try {
    thread_ = std::thread([this] { Run(); });
  } catch (const std::exception&) {
    // Only an optimisation: the final Flush does all the work instead.
  }
}

void Writeback::Written(uint64_t bytes) {
  bool kick;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_ += bytes;
    kick = pending_ >= interval_;
  }
  if (kick) cv_.notify_one();
}

void Writeback::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || pending_ >= interval_; });
    if (stop_) return;
    pending_ = 0;
    lock.unlock();
    disk_->StartWriteback();
    lock.lock();
  }
}

}  // namespace hvdisk::disk
