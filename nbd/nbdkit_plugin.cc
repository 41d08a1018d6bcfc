#define NBDKIT_API_VERSION 2
#include "nbd/nbdkit_plugin.h"

#include <nbdkit-plugin.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "nbd/export.h"
#include "ops/host_id.h"
#include "ops/store.h"
#include "ops/vm_served.h"
#include "platform/file.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

namespace hvdisk::nbd {
namespace {

struct Config {
  std::string file;
  bool read_only = false;
  std::vector<std::string> allowed_roots;
  std::string store;
  std::string vm;
  std::string uri;
};

// The server's state. Plain pointers, released by .unload only: nbdkit's parent process exits
// through exit() after it forks, and destructors run there would release the locks the child
// shares.
Config* config = nullptr;
ops::Store* store = nullptr;
ops::ServedVm* served = nullptr;
Export* disk_export = nullptr;

int ErrnoOf(Code code) {
  switch (code) {
    case Code::kNoSpace:
      return ENOSPC;
    case Code::kInvalidArgument:
      return EINVAL;
    case Code::kAccessDenied:
      return EROFS;
    case Code::kOutOfMemory:
      return ENOMEM;
    case Code::kUnsupported:
      return EOPNOTSUPP;
    default:
      return EIO;
  }
}

int Fail(const Status& st) {
  nbdkit_error("%s", st.ToString().c_str());
  nbdkit_set_error(ErrnoOf(st.code()));
  return -1;
}

int Done(const Status& st) { return st.ok() ? 0 : Fail(st); }

void Load() { config = new Config(); }

void Unload() {
  if (disk_export != nullptr) {
    Status st = disk_export->Close();
    if (!st.ok()) nbdkit_error("closing the disk: %s", st.ToString().c_str());
  }
  delete disk_export;
  delete served;  // removes the served record, releases the VM
  delete store;
  delete config;
  disk_export = nullptr;
  served = nullptr;
  store = nullptr;
  config = nullptr;
}

int AbsolutePath(const char* value, std::string* out) {
  char* abs = nbdkit_absolute_path(value);
  if (abs == nullptr) return -1;
  *out = abs;
  std::free(abs);
  return 0;
}

int ConfigKey(const char* key, const char* value) {
  const std::string k = key;
  if (k == "file") return AbsolutePath(value, &config->file);
  if (k == "store") return AbsolutePath(value, &config->store);
  if (k == "allow-root") {
    std::string root;
    if (AbsolutePath(value, &root) == -1) return -1;
    config->allowed_roots.push_back(root);
    return 0;
  }
  if (k == "vm") {
    config->vm = value;
    return 0;
  }
  if (k == "uri") {
    config->uri = value;
    return 0;
  }
  if (k == "readonly") {
    const int b = nbdkit_parse_bool(value);
    if (b == -1) return -1;
    config->read_only = b == 1;
    return 0;
  }
  nbdkit_error("unknown parameter '%s' (see 'nbdkit hvdisk --help')", key);
  return -1;
}

int ConfigComplete() {
  const bool by_file = !config->file.empty();
  const bool by_vm = !config->store.empty() || !config->vm.empty();
  if (by_file == by_vm || (by_vm && (config->store.empty() || config->vm.empty()))) {
    nbdkit_error("give file=DISK, or store=STORE and vm=VM");
    return -1;
  }
  if (by_vm && !config->allowed_roots.empty()) {
    nbdkit_error("allow-root= is for file=; a store's disks stay inside the store");
    return -1;
  }
  return 0;
}

// Opens the disk (and the store and the VM's mark for store=/vm=).
Status OpenDisk() {
  if (config->store.empty()) {
    ASSIGN_OR_RETURN(std::unique_ptr<Export> e,
                     Export::Open(DefaultFileSystem(), {.file = config->file,
                                                        .read_only = config->read_only,
                                                        .allowed_roots = config->allowed_roots}));
    disk_export = e.release();
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::unique_ptr<ops::Store> s,
                   ops::Store::Open(DefaultFileSystem(), config->store,
                                    {.reclaim = ops::StoreOptions::Reclaim::kExternal}));
  store = s.release();
  ASSIGN_OR_RETURN(Guid vm, store->FindVm(config->vm));
  ASSIGN_OR_RETURN(std::unique_ptr<ops::ServedVm> mark, ops::ServedVm::Mark(*store, vm));
  served = mark.release();
  ASSIGN_OR_RETURN(
      std::unique_ptr<Export> e,
      Export::Open(store->fs(), {.file = served->disk_path(), .read_only = config->read_only}));
  disk_export = e.release();
  return Status::Ok();
}

int GetReady() { return Done(OpenDisk()); }

int AfterFork() {
  disk_export->StartIo();
  if (served == nullptr) return 0;
  return Done(served->Publish({.uri = config->uri, .pid = getpid(), .host = ops::HostId()}));
}

void* OpenConnection(int /*readonly*/) { return disk_export; }

int64_t GetSize(void* /*handle*/) { return static_cast<int64_t>(disk_export->size()); }
int CanWrite(void* /*handle*/) { return disk_export->writable() ? 1 : 0; }
int CanOne(void* /*handle*/) { return 1; }
int CanFua(void* /*handle*/) { return NBDKIT_FUA_NATIVE; }
int CanFastZero(void* /*handle*/) { return 0; }

int Pread(void* /*handle*/, void* buf, uint32_t count, uint64_t offset, uint32_t /*flags*/) {
  return Done(disk_export->Pread(offset, {static_cast<std::byte*>(buf), count}));
}

int Pwrite(void* /*handle*/, const void* buf, uint32_t count, uint64_t offset, uint32_t flags) {
  return Done(disk_export->Pwrite(offset, {static_cast<const std::byte*>(buf), count},
                                  (flags & NBDKIT_FLAG_FUA) != 0));
}

int Flush(void* /*handle*/, uint32_t /*flags*/) { return Done(disk_export->Flush()); }

int Trim(void* /*handle*/, uint32_t count, uint64_t offset, uint32_t flags) {
  return Done(disk_export->Trim(offset, count, (flags & NBDKIT_FLAG_FUA) != 0));
}

int Zero(void* /*handle*/, uint32_t count, uint64_t offset, uint32_t flags) {
  if ((flags & NBDKIT_FLAG_FAST_ZERO) != 0) {
    nbdkit_set_error(ENOTSUP);
    return -1;
  }
  return Done(disk_export->Zero(offset, count, (flags & NBDKIT_FLAG_FUA) != 0));
}

int Extents(void* /*handle*/, uint32_t count, uint64_t offset, uint32_t flags,
            struct nbdkit_extents* extents) {
  Result<std::vector<ExportExtent>> runs =
      disk_export->Extents(offset, count, (flags & NBDKIT_FLAG_REQ_ONE) != 0);
  if (!runs.ok()) return Fail(runs.status());
  for (const ExportExtent& e : *runs) {
    if (nbdkit_add_extent(extents, e.offset, e.length, e.type) == -1) return -1;
  }
  return 0;
}

constexpr const char* kConfigHelp =
    "file=DISK          the disk: raw, VHDX, or the leaf of a differencing chain\n"
    "allow-root=DIR     a directory tree parents may resolve into (repeatable)\n"
    "store=STORE vm=VM  serve what a replica-store VM runs on (instead of file=)\n"
    "uri=URI            where it is served, for the store's record (vm show)\n"
    "readonly=1         serve read-only";

nbdkit_plugin MakePlugin() {
  nbdkit_plugin p{};
  p.name = "hvdisk";
  p.longname = "hvdisk: VHDX disks, differencing chains and replica-store VMs";
  p.version = HVDISK_VERSION;
  p.description = "Serves raw files, VHDX images and differencing chains over NBD";
  p.load = Load;
  p.unload = Unload;
  p.config = ConfigKey;
  p.config_complete = ConfigComplete;
  p.config_help = kConfigHelp;
  p.magic_config_key = "file";
  p.get_ready = GetReady;
  p.after_fork = AfterFork;
  p.open = OpenConnection;
  p.get_size = GetSize;
  p.can_write = CanWrite;
  p.can_flush = CanOne;
  p.can_trim = CanWrite;
  p.can_zero = CanWrite;
  p.can_fast_zero = CanFastZero;
  p.can_fua = CanFua;
  p.can_extents = CanOne;
  p.can_multi_conn = CanOne;
  p.pread = Pread;
  p.pwrite = Pwrite;
  p.flush = Flush;
  p.trim = Trim;
  p.zero = Zero;
  p.extents = Extents;
  return p;
}

}  // namespace
}  // namespace hvdisk::nbd

static struct nbdkit_plugin plugin = hvdisk::nbd::MakePlugin();
NBDKIT_REGISTER_PLUGIN(plugin)
