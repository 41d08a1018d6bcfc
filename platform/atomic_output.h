// AtomicOutput: a file made by copying appears at its name complete, or not at all.
//
// A command that creates a file by copying into it (convert; later compact) writes a temporary in
// the destination's directory and renames it to DST only once it is complete and flushed, so that
// an interrupted or failed copy (a signal, ENOSPC, an I/O error, a crash) never leaves a DST that
// looks like a disk but holds only part of the data.
//
// Steps and crash points:
//   1. Create: removes the stale temporaries of DST (those whose process is gone, see below),
//      then picks `.DST.hvdisk-partial-PID-RANDOM` in DST's directory and lets the writer create
//      it exclusively. From here until step 3's rename, a crash or kill leaves only that hidden
//      temporary: no command takes it for DST (it has another name), and the next Create for the
//      same DST removes it.
//   2. The caller writes the temporary through its own handle and releases it (an image: Close).
//   3. Commit: flushes the temporary (durable outputs), renames it to DST and syncs the directory.
//      A crash before the rename is step 1's case; after it, DST is complete (its data was
//      flushed first); before the directory sync DST may still be missing after a power loss,
//      never partial. kNever refuses, atomically with the rename, a DST that appeared meanwhile
//      (kInUse; DST is left untouched); kReplace swaps it atomically (the old file or the new).
//   Destroying an AtomicOutput that was not committed unlinks the temporary.
//
// A stale temporary is one whose PID names no running process (kill(PID, 0) says ESRCH). A PID
// of another PID namespace sharing the directory may look dead: its convert then fails at its
// Commit (kNotFound) and leaves nothing behind, never a wrong DST.
//
// Not durable (Options::durable false, `convert --cache unsafe`): Commit neither flushes nor syncs;
// after a power loss DST may be missing or hold stale data, as an unflushed file may; a killed or
// failed copy still leaves no DST.
//
// Thread safety: one thread uses an AtomicOutput; distinct outputs are independent.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "platform/file.h"
#include "platform/status.h"

namespace hvdisk {

class AtomicOutput {
 public:
  enum class Replace : uint8_t {
    kNever,    // an existing DST is kInUse, at Create and at Commit
    kAllowed,  // Commit replaces an existing DST atomically
  };
  struct Options {
    Replace replace = Replace::kNever;
    bool durable = true;  // Commit flushes the file and syncs the directory
  };
  // Creates the file at a temporary path: must create it exclusively (OpenOptions::CreateNew, as
  // vhdx::Image::Create does), which fails with kInUse if the name exists (a clash of PID and 32
  // random bits); what it created before failing otherwise is removed by AtomicOutput.
  using Creator = std::function<Status(const std::string& temp_path)>;

  // Step 1 above. `fs` (not owned) must outlive the output. kInUse if DST exists and
  // options.replace is kNever; the writer's error if it fails (nothing is left behind).
  static Result<std::unique_ptr<AtomicOutput>> Create(FileSystem* fs, const std::string& dst,
                                                      const Options& options,
                                                      const Creator& create);
  // Unlinks the temporary unless Commit succeeded.
  ~AtomicOutput();
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  // Step 3. REQUIRES: every handle of the temporary is closed (an image's metadata written). On
  // failure the temporary is still there, and goes when this object does.
  Status Commit();

  const std::string& path() const { return dst_; }
  const std::string& temp_path() const { return temp_; }

  // The prefix of DST's temporaries' names: ".DST.hvdisk-partial-" (DST's name shortened so that
  // a temporary's name fits NAME_MAX).
  static std::string TempPrefix(const std::string& dst);

 private:
  AtomicOutput(FileSystem* fs, std::string dst, std::string temp, const Options& options);

  FileSystem* fs_;
  std::string dst_;
  std::string temp_;
  Options options_;
  bool committed_ = false;
};

// Removes DST's temporaries (named TempPrefix(dst) + "PID-...") whose PID is not running; returns
// how many it removed. Errors (an unreadable directory) remove nothing and are not reported.
int RemoveStaleTemporaries(FileSystem* fs, const std::string& dst);

}  // namespace hvdisk
