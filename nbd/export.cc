#include "nbd/export.h"

#include <algorithm>
#include <utility>

#include "disk/open.h"

namespace hvdisk::nbd {

// Queue depth of each pooled IoQueue: one request's planned I/Os (a read across a chain's files,
// a write's runs) go in one batch.
constexpr unsigned kQueueDepth = 64;

// Holds [offset, offset + length) of the range lock: waits while another holder's range overlaps.
class Export::RangeGuard {
 public:
  RangeGuard(Export* e, uint64_t offset, uint64_t length) : e_(e), range_(offset, offset + length) {
    std::unique_lock lock(e_->range_mu_);
    e_->range_cv_.wait(lock, [&] {
      return std::none_of(e_->busy_.begin(), e_->busy_.end(), [&](const auto& r) {
        return r.first < range_.second && range_.first < r.second;
      });
    });
    e_->busy_.push_back(range_);
  }
  ~RangeGuard() {
    {
      std::lock_guard lock(e_->range_mu_);
      e_->busy_.erase(std::find(e_->busy_.begin(), e_->busy_.end(), range_));
    }
    e_->range_cv_.notify_all();
  }

 private:
  Export* e_;
  std::pair<uint64_t, uint64_t> range_;
};

// An IoQueue of the pool, returned to it when the lease ends.
class Export::QueueLease {
 public:
  explicit QueueLease(Export* e) : e_(e) {
    std::lock_guard lock(e_->pool_mu_);
    if (!e_->idle_queues_.empty()) {
      queue_ = std::move(e_->idle_queues_.back());
      e_->idle_queues_.pop_back();
    } else {
      backend_ = e_->backend_;
    }
  }
  ~QueueLease() {
    if (!queue_) return;
    std::lock_guard lock(e_->pool_mu_);
    e_->idle_queues_.push_back(std::move(queue_));
  }
  Result<IoQueue*> Get() {
    if (!queue_) {
      ASSIGN_OR_RETURN(queue_, CreateIoQueue(backend_, kQueueDepth));
    }
    return queue_.get();
  }

 private:
  Export* e_;
  IoBackend backend_ = IoBackend::kAuto;
  std::unique_ptr<IoQueue> queue_;
};

Result<std::unique_ptr<Export>> Export::Open(FileSystem* fs, const ExportOptions& options) {
  ASSIGN_OR_RETURN(std::vector<std::string> roots,
                   disk::ChainRoots(fs, options.file, options.allowed_roots));
  ASSIGN_OR_RETURN(std::unique_ptr<disk::VirtualDisk> d,
                   disk::Open(fs, options.file,
                              {.writable = !options.read_only, .allowed_roots = std::move(roots)}));
  return std::make_unique<Export>(std::move(d));
}

Export::Export(std::unique_ptr<disk::VirtualDisk> disk) : disk_(std::move(disk)) {}

Export::~Export() { (void)Close(); }

void Export::StartIo(IoBackend backend) {
  std::lock_guard lock(pool_mu_);
  backend_ = backend;
  idle_queues_.clear();
}

Status Export::RunPlanned(std::vector<IoRequest>& requests) {
  if (requests.empty()) return Status::Ok();
  QueueLease lease(this);
  ASSIGN_OR_RETURN(IoQueue * queue, lease.Get());
  return RunAll(queue, requests);
}

Status Export::Pread(uint64_t offset, std::span<std::byte> dst) {
  RETURN_IF_ERROR(disk::CheckRange(*disk_, offset, dst.size()));
  std::vector<IoRequest> requests;
  RETURN_IF_ERROR(disk_->PlanRead(offset, dst, &requests));
  return RunPlanned(requests);
}

Status Export::Pwrite(uint64_t offset, std::span<const std::byte> src, bool fua) {
  RETURN_IF_ERROR(disk::CheckRange(*disk_, offset, src.size()));
  if (!writable()) return AccessDenied("the export of " + disk_->path() + " is read-only");
  {
    RangeGuard range(this, offset, src.size());
    std::shared_lock writes(flush_mu_);
    std::vector<IoRequest> requests;
    RETURN_IF_ERROR(disk_->PlanWrite(offset, src, &requests));
    RETURN_IF_ERROR(RunPlanned(requests));
  }
  return fua ? Flush() : Status::Ok();
}

Status Export::Modify(uint64_t offset, uint64_t length, bool fua, bool trim) {
  RETURN_IF_ERROR(disk::CheckRange(*disk_, offset, length));
  if (!writable()) return AccessDenied("the export of " + disk_->path() + " is read-only");
  {
    RangeGuard range(this, offset, length);
    std::shared_lock writes(flush_mu_);
    RETURN_IF_ERROR(trim ? disk_->Trim(offset, length) : disk_->Zero(offset, length));
  }
  return fua ? Flush() : Status::Ok();
}

Status Export::Zero(uint64_t offset, uint64_t length, bool fua) {
  return Modify(offset, length, fua, /*trim=*/false);
}

Status Export::Trim(uint64_t offset, uint64_t length, bool fua) {
  return Modify(offset, length, fua, /*trim=*/true);
}

Status Export::Flush() {
  if (!writable()) return Status::Ok();
  std::unique_lock all(flush_mu_);
  return closed_ ? Status::Ok() : disk_->Flush();
}

Result<std::vector<ExportExtent>> Export::Extents(uint64_t offset, uint64_t length, bool req_one) {
  RETURN_IF_ERROR(disk::CheckRange(*disk_, offset, length));
  ASSIGN_OR_RETURN(std::vector<disk::LayerExtent> map, disk_->Map(offset, length));
  std::vector<ExportExtent> out;
  for (const disk::LayerExtent& e : map) {
    const uint32_t type =
        e.extent.kind == vhdx::Extent::Kind::kData ? 0 : kExtentHole | kExtentZero;
    if (!out.empty() && out.back().type == type &&
        out.back().offset + out.back().length == e.extent.virtual_offset) {
      out.back().length += e.extent.length;
      continue;
    }
    if (req_one && !out.empty()) break;
    out.push_back({e.extent.virtual_offset, e.extent.length, type});
  }
  return out;
}

Status Export::Close() {
  std::unique_lock all(flush_mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  Status st = disk_->writable() ? disk_->Flush() : Status::Ok();
  Status closed = disk_->Close();
  {
    std::lock_guard lock(pool_mu_);
    idle_queues_.clear();
  }
  return st.ok() ? closed : st;
}

}  // namespace hvdisk::nbd
