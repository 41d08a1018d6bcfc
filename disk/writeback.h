// Writeback: a helper thread that asks the kernel to start writing an output file's dirty pages
// back while a copy is still producing them, so that the copy's final Flush (fsync) waits for the
// last few chunks instead of for the whole output.
//
// Thread safety: Written() is called by one writer thread; the helper thread is internal.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "disk/virtual_disk.h"

namespace hvdisk::disk {

class Writeback {
 public:
  // `disk` is not owned and must outlive this object.
  Writeback(VirtualDisk* disk, uint64_t interval);
  ~Writeback();  // stops and joins the thread
  Writeback(const Writeback&) = delete;
  Writeback& operator=(const Writeback&) = delete;

  // Starts the thread; without it (thread creation failed) Written() does nothing.
  void Start();
  // Reports bytes written to the disk since the last call.
  void Written(uint64_t bytes);

 private:
  void Run();

  VirtualDisk* const disk_;
  const uint64_t interval_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t pending_ = 0;  // guarded by mu_
  bool stop_ = false;     // guarded by mu_
};

}  // namespace hvdisk::disk
