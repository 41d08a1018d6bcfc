// VhdxDisk: a VHDX image as a disk, either the leaf of a differencing chain opened with all its
// parents (chain::Chain, what disk::Open makes) or one image alone (a differencing image's
// transparent ranges then read as zeros and map as kParent).
//
// Every write, zero, trim, planned write and flush goes through the chain to the leaf only (the
// parents are read-only); reads, maps and planned reads go through every layer.
//
// Thread safety: as VirtualDisk.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chain/chain.h"
#include "disk/virtual_disk.h"
#include "vhdx/image.h"

namespace hvdisk::disk {

class VhdxDisk : public VirtualDisk {
 public:
  // One image alone.
  explicit VhdxDisk(std::unique_ptr<vhdx::Image> image);
  // An opened chain; `path` is the leaf as the caller named it.
  VhdxDisk(std::string path, std::unique_ptr<chain::Chain> chain);

  Format format() const override { return Format::kVhdx; }
  uint64_t size() const override { return leaf()->virtual_size(); }
  uint32_t sector_size() const override { return leaf()->logical_sector_size(); }
  bool writable() const override { return !leaf()->read_only(); }
  Status Read(uint64_t offset, std::span<std::byte> dst) override;
  Status Write(uint64_t offset, std::span<const std::byte> src) override;
  Status Zero(uint64_t offset, uint64_t length) override;
  Status Flush() override;
  // Closes every image, the leaf first (draining its log).
  Status Close() override;
  Result<std::vector<LayerExtent>> Map(uint64_t offset, uint64_t length) override;
  std::vector<std::string> layer_paths() const override;
  Status PlanRead(uint64_t offset, std::span<std::byte> dst, std::vector<IoRequest>* out) override;
  Status PlanWrite(uint64_t offset, std::span<const std::byte> src,
                   std::vector<IoRequest>* out) override;
  vhdx::Image* image() override { return leaf(); }
  chain::Chain* chain() override { return chain_.get(); }

 protected:
  File* data_file() override { return leaf()->file(); }

 private:
  vhdx::Image* leaf() const { return layers_.front(); }

  std::unique_ptr<vhdx::Image> image_;  // alone
  std::unique_ptr<chain::Chain> chain_;
  std::vector<vhdx::Image*> layers_;  // leaf first; owned by image_ or chain_
};

}  // namespace hvdisk::disk
