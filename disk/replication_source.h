// ReplicationSource: the primary's disk as a replication cycle reads it: which extents of it the
// cycle must apply (Changes) and their data (Read). Two kinds:
//   - an NBD export (nbd_source.h, through libnbd): base:allocation block status, and with a
//     bitmap name the qemu:dirty-bitmap:NAME context (only the dirty extents are changes);
//   - a local file on the FileSystem: a raw file or a fixed/dynamic VHDX (every allocated range
//     is a change, ranges known to be zero are zero changes), or a differencing VHDX/.avhdx opened
//     alone (a delta: only its present blocks and sectors are changes; its transparent ranges are
//     not, whatever its parent holds).
//
// The source is an untrusted peer: every window it answers is checked (CheckWindow) before use.
//
// Thread safety: a ReplicationSource is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::disk {

// A range of the source a cycle applies: its data, or zeros (`zero`: the range reads as zeros on
// the source, so the replica's range becomes zeros, e.g. by a trim).
struct SourceExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool zero = false;
};

// What Changes found in [offset, end): `extents` in order, disjoint, each non-empty; the ranges
// between them are unchanged (nothing to apply). end > offset.
struct SourceWindow {
  std::vector<SourceExtent> extents;
  uint64_t end = 0;
};

// One read of Read: [offset, offset + length).
struct SourceRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// The largest SourceRange Read accepts (NBD servers take at least 32 MiB; qemu-nbd 32 MiB).
inline constexpr uint64_t kMaxSourceRead = 16u << 20;
// The largest window Changes answers at once (a source may answer a shorter one).
inline constexpr uint64_t kMaxSourceWindow = 1u << 30;

class ReplicationSource {
 public:
  // Receives the data of one range (valid during the call only).
  using Sink = std::function<Status(uint64_t offset, std::span<const std::byte> data)>;

  virtual ~ReplicationSource() = default;

  virtual uint64_t size() const = 0;
  // What the user named ("nbd+unix:///?socket=...", a path).
  virtual const std::string& name() const = 0;

  // The changes in [offset, offset + length), or in a shorter window [offset, end). REQUIRES
  // offset < size(), 0 < length <= size() - offset. The answer passed CheckWindow.
  virtual Result<SourceWindow> Changes(uint64_t offset, uint64_t length) = 0;

  // Reads every range (each non-empty, at most kMaxSourceRead, within size()) and hands its data to
  // `sink` in the order given, keeping up to `depth` reads in flight (1..1024) where the source
  // can. Returns at the first error (its own or the sink's) once no read is in flight.
  virtual Status Read(std::span<const SourceRange> ranges, unsigned depth, const Sink& sink) = 0;
};

// kCorrupt naming `source` unless `window` answers [offset, offset + length) as Changes promises:
// offset < end <= offset + length, extents in order, disjoint, non-empty, within [offset, end).
Status CheckWindow(const SourceWindow& window, uint64_t offset, uint64_t length,
                   const std::string& source);

struct SourceOptions {
  std::string bitmap;  // NBD only: the dirty bitmap whose dirty extents are the changes
};

// True for the URIs an NBD source is opened from (nbd://, nbds://, nbd+unix://, nbds+unix://).
bool IsNbdUri(std::string_view from);

// Opens `from`: an NBD URI (OpenNbdSource), else a file on `fs` (not owned; it must outlive the
// source), opened read-only with qemu's shared read lock. kInvalidArgument for a bitmap with a
// file; kNotFound for a missing file; kCorrupt for a damaged VHDX.
Result<std::unique_ptr<ReplicationSource>> OpenSource(FileSystem* fs, const std::string& from,
                                                      const SourceOptions& options);

}  // namespace hvdisk::disk
