// The demo's primary: a qemu VM's disk as docs/replication.md's offline protocol drives it. A
// qcow2 image with a persistent dirty bitmap (qemu-img bitmap), written by qemu-io as the VM
// writes, exported read-only by qemu-nbd (with -B for the bitmap of the generation a cycle ships),
// and the `hvdisk vm replicate` cycles that read the export, run as child processes.
//
// Thread safety: one call at a time (it starts and waits for child processes).
#pragma once

#include <cstdint>
#include <string>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk::cli {

// What a replicate cycle reported (its --json object, as far as the demo reads it).
struct CycleReport {
  std::string json;    // the command's stdout
  int64_t bytes = -1;  // the bytes it applied, when it reports them
};

class QemuPrimary {
 public:
  // The primary's files live in `dir` (absolute): primary.qcow2, primary.sock, and the tools'
  // stderr in primary.log.
  explicit QemuPrimary(std::string dir);
  ~QemuPrimary();  // stops a running export
  QemuPrimary(const QemuPrimary&) = delete;
  QemuPrimary& operator=(const QemuPrimary&) = delete;

  // The first of qemu-img, qemu-io and qemu-nbd that is not on $PATH; empty when all are.
  static std::string MissingTool();

  // Creates the qcow2 image of `size`, writes `length` bytes of `pattern` at 0 into it, then
  // starts the first bitmap generation, b0 (persistent, enabled).
  Status Create(uint64_t size, uint64_t length, int pattern);
  // qemu-io writes `length` bytes of `pattern` at `offset` (the export must be stopped).
  Status Write(uint64_t offset, uint64_t length, int pattern);
  // Starts generation N+1 (enabled) and disables N; returns N's name, the one to ship.
  Result<std::string> NewGeneration();
  // Removes the bitmap `name` (after the cycle that shipped it succeeded).
  Status RemoveBitmap(const std::string& name);

  // qemu-nbd -r -t [-B bitmap] on primary.sock; returns when the socket is there (up to 30 s).
  Status Export(const std::string& bitmap);
  // SIGTERM to the export's pid, waited for; its socket removed.
  Status StopExport();
  int export_pid() const { return nbd_pid_; }
  std::string uri() const { return "nbd+unix:///?socket=" + socket_; }
  const std::string& image() const { return image_; }

  // `hvdisk vm --store STORE replicate VM --from uri() [--bitmap B] --checkpoint --json`.
  Result<CycleReport> Replicate(const std::string& store, const std::string& vm,
                                const std::string& bitmap);
  // The ContentDigest of the image's content (qemu-img convert to raw, then read).
  Result<std::string> Digest(FileSystem* fs);

 private:
  Status Run(const std::vector<std::string>& args);

  std::string dir_, image_, socket_, log_;
  int generation_ = 0;
  int nbd_pid_ = -1;
};

}  // namespace hvdisk::cli
