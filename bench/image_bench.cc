// image_bench: one measurement of one I/O pattern on one disk, raw file or VHDX image, through an
// IoQueue backend; prints one JSON object. bench/run calls it many times, interleaving targets,
// backends and rounds, and computes the medians and ratios (a plain main, not Google Benchmark,
// so that the driver controls the order of every measurement).
//
//   image_bench --file=F [--format=raw|vhdx|chain] [--op=read|write] [--pattern=seq|rand] [--bs=N]
//               [--depth=N] [--backend=uring|aio|sync] [--direct] [--seconds=T] [--bytes=N]
//               [--create=SIZE [--block=N]] [--vhdx-type=fixed|dynamic] [--stripe=K/L]
//               [--chain-plan=leaf|layers] [--reader=plan|copier] [--abandon]
//
// Requests are planned by the engine (Image::PlanRead / Image::PlanWrite for VHDX, one request per
// I/O for raw) and kept `depth` deep in the queue. The run stops after --seconds or once --bytes
// have been issued (--bytes=0: one pass over the disk for seq, unlimited for rand), whichever
// comes first. Writes end with a flush and a close, inside the timing. --create makes a fresh
// file first (raw: a sparse file of SIZE; vhdx: an empty image of SIZE with --block): allocating
// writes.
//
// --format=chain opens F as a differencing chain (chain::Chain::Open: every parent read-only, the
// leaf writable for --op=write). --chain-plan=leaf (default) plans through the leaf, as the engine
// does (Image::PlanRead: the leaf's data as queued requests, parent ranges read synchronously
// through the backing); --chain-plan=layers resolves every layer here with Image::Map and plans
// each piece on the image that holds it, so that every data read is queued (what an asynchronous
// chain read path would reach). --stripe=K/L issues only the I/Os whose index (offset / bs) is K
// modulo L: a chain layer that owns every L-th block.
//
// --reader=copier (reads only) reads the whole disk once through disk::Copier, as hvdisk's
// whole-disk readers (digest, convert, compare) do: chunks in order with their reads in flight
// ahead (read-ahead), zero ranges skipped through Map; --bs, --depth and --backend do not apply.
// --abandon (vhdx writes) ends after the final flush without closing, as a killed process: the
// image keeps its dirty log (the repair benchmark replays it).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/offset_stream.h"
#include "chain/chain.h"
#include "disk/copier.h"
#include "disk/open.h"
#include "platform/aligned_buffer.h"
#include "platform/file.h"
#include "platform/image_lock.h"
#include "platform/io_queue.h"
#include "vhdx/image.h"

namespace hvdisk {
namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string file;
  std::string format = "raw";
  bool write = false;
  bool random = false;
  size_t bs = 1 << 20;
  unsigned depth = 1;
  IoBackend backend = IoBackend::kIoUring;
  bool direct = false;
  double seconds = 1.0;
  uint64_t bytes = 0;
  uint64_t create = 0;  // size of a fresh file to make first, 0: use the existing file
  uint32_t block = 32u << 20;
  bool fixed = false;
  uint64_t stripe_k = 0, stripe_l = 1;
  bool plan_layers = false;
  bool copier = false;
  bool abandon = false;  // --abandon: a vhdx write ends as a killed writer, its log dirty
};

// ---- targets -----------------------------------------------------------------------------------

class Target {
 public:
  virtual ~Target() = default;
  virtual uint64_t size() const = 0;
  virtual Status Plan(bool write, uint64_t offset, std::span<std::byte> buf,
                      std::vector<IoRequest>* out) = 0;
  virtual Status Flush() = 0;
  virtual Status Close() = 0;
  // Leaves the disk as a killed process would (no close); a VHDX keeps its log dirty.
  virtual void Abandon() {}
};

class RawTarget : public Target {
 public:
  RawTarget(std::unique_ptr<File> file, uint64_t size) : file_(std::move(file)), size_(size) {}
  uint64_t size() const override { return size_; }
  Status Plan(bool write, uint64_t offset, std::span<std::byte> buf,
              std::vector<IoRequest>* out) override {
    out->push_back(
        {write ? IoKind::kWrite : IoKind::kRead, file_.get(), offset, buf.data(), buf.size(), 0});
    return Status::Ok();
  }
  Status Flush() override { return file_->Flush(); }
  Status Close() override { return Status::Ok(); }

 private:
  std::unique_ptr<File> file_;
  uint64_t size_;
};

class VhdxTarget : public Target {
 public:
  explicit VhdxTarget(std::unique_ptr<vhdx::Image> image) : image_(std::move(image)) {}
  uint64_t size() const override { return image_->virtual_size(); }
  Status Plan(bool write, uint64_t offset, std::span<std::byte> buf,
              std::vector<IoRequest>* out) override {
    return write ? image_->PlanWrite(offset, buf, out) : image_->PlanRead(offset, buf, out);
  }
  Status Flush() override { return image_->Flush(); }
  Status Close() override { return image_->Close(); }
  void Abandon() override {
    UnlockImage(*image_->file());  // its image locks go with the "killed process"
    (void)image_.release();        // never closed: LogGuid stays set
  }

 private:
  std::unique_ptr<vhdx::Image> image_;
};

class ChainTarget : public Target {
 public:
  ChainTarget(std::unique_ptr<chain::Chain> c, bool layers)
      : chain_(std::move(c)), layers_(layers) {}
  uint64_t size() const override { return chain_->virtual_size(); }
  Status Plan(bool write, uint64_t offset, std::span<std::byte> buf,
              std::vector<IoRequest>* out) override {
    if (write) return chain_->leaf()->PlanWrite(offset, buf, out);
    if (!layers_) return chain_->leaf()->PlanRead(offset, buf, out);
    return PlanLayer(0, offset, buf, out);
  }
  Status Flush() override { return chain_->Flush(); }
  Status Close() override { return chain_->Close(); }

 private:
  // The pieces of [offset, offset + buf.size()) that layer k stores are planned on it; the
  // transparent ones go down to layer k + 1 (zeros below the base).
  Status PlanLayer(size_t k, uint64_t offset, std::span<std::byte> buf,
                   std::vector<IoRequest>* out) {
    const auto& images = chain_->images();
    if (k == images.size()) {
      std::memset(buf.data(), 0, buf.size());
      return Status::Ok();
    }
    ASSIGN_OR_RETURN(std::vector<vhdx::Extent> map, images[k]->Map(offset, buf.size()));
    for (const vhdx::Extent& e : map) {
      std::span<std::byte> piece = buf.subspan(e.virtual_offset - offset, e.length);
      switch (e.kind) {
        case vhdx::Extent::Kind::kData:
          RETURN_IF_ERROR(images[k]->PlanRead(e.virtual_offset, piece, out));
          break;
        case vhdx::Extent::Kind::kZero:
          std::memset(piece.data(), 0, piece.size());
          break;
        case vhdx::Extent::Kind::kParent:
          RETURN_IF_ERROR(PlanLayer(k + 1, e.virtual_offset, piece, out));
          break;
      }
    }
    return Status::Ok();
  }

  std::unique_ptr<chain::Chain> chain_;
  bool layers_;
};

Result<std::unique_ptr<Target>> OpenChain(const Args& a) {
  chain::ChainOptions o;
  o.writable_leaf = a.write;
  o.direct = a.direct;
  ASSIGN_OR_RETURN(std::unique_ptr<chain::Chain> c,
                   chain::Chain::Open(DefaultFileSystem(), a.file, o));
  return std::unique_ptr<Target>(new ChainTarget(std::move(c), a.plan_layers));
}

Result<std::unique_ptr<Target>> OpenRaw(const Args& a) {
  FileSystem* fs = DefaultFileSystem();
  OpenOptions o = a.create ? OpenOptions::CreateOrTruncate()
                           : (a.write ? OpenOptions::ReadWrite() : OpenOptions::ReadOnly());
  o.direct = a.direct;
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(a.file, o));
  uint64_t size = a.create;
  if (size == 0) {
    ASSIGN_OR_RETURN(size, file->Size());
  } else {  // sized first, as `qemu-img create -f raw` does: writes never extend the file
    RETURN_IF_ERROR(file->Truncate(size));
  }
  return std::unique_ptr<Target>(new RawTarget(std::move(file), size));
}

Result<std::unique_ptr<Target>> OpenVhdx(const Args& a) {
  FileSystem* fs = DefaultFileSystem();
  if (a.create) {
    (void)fs->Unlink(a.file);
    vhdx::CreateOptions c{.type = a.fixed ? vhdx::DiskType::kFixed : vhdx::DiskType::kDynamic,
                          .virtual_size = a.create,
                          .block_size = a.block};
    RETURN_IF_ERROR(vhdx::Image::Create(fs, a.file, c));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<vhdx::Image> image,
                   vhdx::Image::Open(fs, a.file, {.read_only = !a.write, .direct = a.direct}));
  return std::unique_ptr<Target>(new VhdxTarget(std::move(image)));
}

// ---- the run -----------------------------------------------------------------------------------

struct Totals {
  uint64_t bytes = 0, ops = 0, requests = 0;
  double seconds = 0;
};

// Keeps `depth` I/Os in flight; one slot per I/O, whose requests carry the slot as user_data.
class Runner {
 public:
  Runner(const Args& a, Target* t, IoQueue* q)
      : a_(a), target_(t), queue_(q), offsets_(a.random, a.bs, t->size()) {
    limit_ = a.bytes ? a.bytes : (a.random ? UINT64_MAX : t->size() / a.bs * a.bs);
    for (unsigned s = 0; s < a.depth; ++s) {
      buffers_.emplace_back(a.bs);
      std::memset(buffers_.back().data(), 0x5A + s, a.bs);
    }
    outstanding_.assign(a.depth, 0);
  }

  Status Run(Totals* t) {
    deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(a_.seconds));
    Status s = Loop(t);
    std::vector<IoCompletion> drain(a_.depth);
    while (queue_->pending() > 0) {  // no buffer may be freed while in flight
      if (!queue_->Reap(drain, 1).ok()) break;
    }
    return s;
  }

 private:
  Status Loop(Totals* t) {
    for (unsigned s = 0; s < a_.depth; ++s) RETURN_IF_ERROR(Issue(s, t));
    std::vector<IoCompletion> done(a_.depth * 4);
    while (queue_->pending() > 0) {
      ASSIGN_OR_RETURN(size_t n, queue_->Reap(done, 1));
      for (size_t k = 0; k < n; ++k) {
        RETURN_IF_ERROR(done[k].status);
        const size_t slot = static_cast<size_t>(done[k].user_data);
        if (--outstanding_[slot] == 0) RETURN_IF_ERROR(Issue(slot, t));
      }
    }
    return Status::Ok();
  }

  // Starts the next I/O on `slot` unless the run is over; I/Os needing no requests count at once.
  Status Issue(size_t slot, Totals* t) {
    while (issued_ < limit_ && Clock::now() < deadline_) {
      const uint64_t off = offsets_.Next();
      if (a_.stripe_l > 1 && (off / a_.bs) % a_.stripe_l != a_.stripe_k) {
        issued_ += a_.bs;  // not this layer's: skipped, not counted
        continue;
      }
      requests_.clear();
      RETURN_IF_ERROR(target_->Plan(a_.write, off, buffers_[slot].span(), &requests_));
      issued_ += a_.bs;
      t->bytes += a_.bs;
      t->ops++;
      if (requests_.empty()) continue;
      for (IoRequest& r : requests_) r.user_data = slot;
      outstanding_[slot] = requests_.size();
      t->requests += requests_.size();
      return queue_->Submit(requests_);
    }
    return Status::Ok();
  }

  const Args& a_;
  Target* target_;
  IoQueue* queue_;
  OffsetStream offsets_;
  std::vector<AlignedBuffer> buffers_;
  std::vector<size_t> outstanding_;
  std::vector<IoRequest> requests_;
  uint64_t limit_ = 0, issued_ = 0;
  Clock::time_point deadline_;
};

// One pass over the whole disk through disk::Copier; the chunks are handed to a sink that only
// counts them (the data is in memory, as a consumer would get it).
Status MeasureCopier(const Args& a, Totals* t) {
  const auto start = Clock::now();
  const disk::Format format = a.format == "raw" ? disk::Format::kRaw : disk::Format::kVhdx;
  ASSIGN_OR_RETURN(std::unique_ptr<disk::VirtualDisk> d,
                   disk::Open(DefaultFileSystem(), a.file, {.format = format, .direct = a.direct}));
  RETURN_IF_ERROR(disk::Copier(d.get()).Stream([&](const disk::Chunk& chunk) {
    t->bytes += chunk.length;
    t->ops++;
    t->requests += chunk.zero ? 0 : 1;
    return Status::Ok();
  }));
  RETURN_IF_ERROR(d->Close());
  t->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return Status::Ok();
}

Status Measure(const Args& a, Totals* t) {
  if (a.copier) {
    if (a.write) return InvalidArgument("--reader=copier reads only");
    return MeasureCopier(a, t);
  }
  const auto start = Clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<Target> target, a.format == "vhdx"    ? OpenVhdx(a)
                                                   : a.format == "chain" ? OpenChain(a)
                                                                         : OpenRaw(a));
  if (target->size() < a.bs) return InvalidArgument("the disk is smaller than one I/O");
  ASSIGN_OR_RETURN(std::unique_ptr<IoQueue> queue, CreateIoQueue(a.backend, a.depth));
  {
    Runner runner(a, target.get(), queue.get());
    RETURN_IF_ERROR(runner.Run(t));
  }
  if (a.write) RETURN_IF_ERROR(target->Flush());
  if (a.abandon) {
    target->Abandon();
  } else {
    RETURN_IF_ERROR(target->Close());
  }
  t->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return Status::Ok();
}

// ---- arguments ---------------------------------------------------------------------------------

uint64_t ParseSize(const std::string& v) {
  char* end = nullptr;
  uint64_t n = std::strtoull(v.c_str(), &end, 10);
  switch (end != nullptr ? *end : '\0') {
    case 'K':
      return n << 10;
    case 'M':
      return n << 20;
    case 'G':
      return n << 30;
    default:
      return n;
  }
}

Status SetArg(Args* a, const std::string& key, const std::string& v) {
  if (key == "file")
    a->file = v;
  else if (key == "format")
    a->format = v;
  else if (key == "op")
    a->write = v == "write";
  else if (key == "pattern")
    a->random = v == "rand";
  else if (key == "bs")
    a->bs = ParseSize(v);
  else if (key == "depth")
    a->depth = static_cast<unsigned>(std::max<uint64_t>(1, ParseSize(v)));
  else if (key == "backend") {
    ASSIGN_OR_RETURN(a->backend, ParseIoBackend(v));
  } else if (key == "direct")
    a->direct = v != "0";
  else if (key == "seconds")
    a->seconds = std::strtod(v.c_str(), nullptr);
  else if (key == "bytes")
    a->bytes = ParseSize(v);
  else if (key == "create")
    a->create = ParseSize(v);
  else if (key == "block")
    a->block = static_cast<uint32_t>(ParseSize(v));
  else if (key == "vhdx-type")
    a->fixed = v == "fixed";
  else if (key == "stripe") {
    size_t slash = v.find('/');
    if (slash == std::string::npos) return InvalidArgument("--stripe=K/L");
    a->stripe_k = ParseSize(v.substr(0, slash));
    a->stripe_l = std::max<uint64_t>(1, ParseSize(v.substr(slash + 1)));
  } else if (key == "chain-plan")
    a->plan_layers = v == "layers";
  else if (key == "abandon")
    a->abandon = v != "0";
  else if (key == "reader")
    a->copier = v == "copier";
  else
    return InvalidArgument("unknown option --" + key);
  return Status::Ok();
}

Result<Args> ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) return InvalidArgument("unexpected argument " + arg);
    size_t eq = arg.find('=');
    std::string key = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    RETURN_IF_ERROR(SetArg(&a, key, eq == std::string::npos ? "1" : arg.substr(eq + 1)));
  }
  if (a.file.empty() || a.bs == 0) return InvalidArgument("--file and a non-zero --bs needed");
  if (a.create) a.write = true;
  return a;
}

}  // namespace
}  // namespace hvdisk

int main(int argc, char** argv) {
  using namespace hvdisk;
  Result<Args> args = ParseArgs(argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "image_bench: %s\n", args.status().ToString().c_str());
    return 2;
  }
  Totals t;
  Status s = Measure(*args, &t);
  if (!s.ok()) {
    std::fprintf(stderr, "image_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  auto secs = [](const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; };
  std::printf(
      "{\"bytes\": %llu, \"ops\": %llu, \"requests\": %llu, \"seconds\": %.6f, "
      "\"mib_per_s\": %.3f, \"iops\": %.1f, \"user_s\": %.4f, \"sys_s\": %.4f, "
      "\"backend\": \"%s\"}\n",
      static_cast<unsigned long long>(t.bytes), static_cast<unsigned long long>(t.ops),
      static_cast<unsigned long long>(t.requests), t.seconds, t.bytes / t.seconds / (1 << 20),
      t.ops / t.seconds, secs(ru.ru_utime), secs(ru.ru_stime),
      std::string(IoBackendName(args->backend)).c_str());
  return 0;
}
