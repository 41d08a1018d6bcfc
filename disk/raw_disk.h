// RawDisk: a plain file read and written as a disk, byte for byte. Its holes map as kZero
// (SEEK_DATA / SEEK_HOLE where the file is an OS file; an in-memory file maps as all data).
//
// Thread safety: as VirtualDisk.
#pragma once

#include <cstdint>
#include <memory>

#include "disk/virtual_disk.h"

namespace hvdisk::disk {

class RawDisk : public VirtualDisk {
 public:
  // `file` holds the disk; `direct` (may be null): the same file opened with O_DIRECT, which
  // takes the aligned whole 4 KiB units of writes whose offset and buffer are 4 KiB aligned (the
  // rest of each write goes through `file`).
  RawDisk(std::unique_ptr<File> file, uint64_t size, bool writable,
          std::unique_ptr<File> direct = nullptr);

  Format format() const override { return Format::kRaw; }
  uint64_t size() const override { return size_; }
  uint32_t sector_size() const override { return 512; }
  bool writable() const override { return writable_; }
  Status Read(uint64_t offset, std::span<std::byte> dst) override;
  Status Write(uint64_t offset, std::span<const std::byte> src) override;
  Status Zero(uint64_t offset, uint64_t length) override;
  // One fsync covers both descriptors: it flushes the file, whichever descriptor wrote.
  Status Flush() override { return file_->Flush(); }
  Status Close() override;
  Result<std::vector<LayerExtent>> Map(uint64_t offset, uint64_t length) override;
  Status PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) override;
  Status PlanWrite(uint64_t offset, std::span<const std::byte> src,
                   std::vector<IoRequest>* out) override;

 protected:
  File* data_file() override { return file_.get(); }

 private:
  std::unique_ptr<File> file_;
  std::unique_ptr<File> direct_;
  uint64_t size_;
  bool writable_;
};

}  // namespace hvdisk::disk
