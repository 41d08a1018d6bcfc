#include "platform/atomic_output.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>

#include "platform/guid.h"

namespace hvdisk {
namespace {

constexpr std::string_view kPartial = ".hvdisk-partial-";
constexpr size_t kNameMax = 255;            // NAME_MAX of Linux file systems
constexpr size_t kSuffixRoom = 10 + 1 + 8;  // "PID-RANDOM": a 10-digit PID, 8 random hex digits

// "PID-RANDOM" for this process.
std::string UniqueSuffix() {
  return std::to_string(::getpid()) + "-" + Guid::Random().ToString(false).substr(0, 8);
}

// The PID a temporary's name carries after its prefix, or 0 when it carries none.
pid_t PidOf(std::string_view rest) {
  const size_t dash = rest.find('-');
  if (dash == std::string_view::npos || dash == 0) return 0;
  long pid = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + dash, pid);
  if (ec != std::errc() || end != rest.data() + dash || pid <= 0 || pid > INT_MAX) return 0;
  return static_cast<pid_t>(pid);
}

bool ProcessIsGone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

Status RefuseExisting(FileSystem* fs, const std::string& dst) {
  Result<FileKind> kind = fs->KindOf(dst);  // a dangling symbolic link is there too
  if (kind.ok()) return InUse(dst + " exists (" + std::string(FileKindName(*kind)) + ")");
  if (kind.status().code() == Code::kNotFound) return Status::Ok();
  return kind.status();
}

}  // namespace

std::string AtomicOutput::TempPrefix(const std::string& dst) {
  std::string name = BaseName(dst);
  const size_t room = kNameMax - 1 - kPartial.size() - kSuffixRoom;
  if (name.size() > room) name.resize(room);
  return "." + name + std::string(kPartial);
}

int RemoveStaleTemporaries(FileSystem* fs, const std::string& dst) {
  const std::string dir = DirName(dst), prefix = AtomicOutput::TempPrefix(dst);
  Result<std::vector<std::string>> names = fs->List(dir);
  if (!names.ok()) return 0;
  int removed = 0;
  for (const std::string& name : *names) {
    if (!name.starts_with(prefix)) continue;
    const pid_t pid = PidOf(std::string_view(name).substr(prefix.size()));
    if (pid == 0 || pid == ::getpid() || !ProcessIsGone(pid)) continue;
    if (fs->Unlink(JoinPath(dir, name)).ok()) ++removed;
  }
  return removed;
}

Result<std::unique_ptr<AtomicOutput>> AtomicOutput::Create(FileSystem* fs, const std::string& dst,
                                                           const Options& options,
                                                           const Creator& create) {
  if (options.replace == Replace::kNever) RETURN_IF_ERROR(RefuseExisting(fs, dst));
  (void)RemoveStaleTemporaries(fs, dst);
  const std::string temp = JoinPath(DirName(dst), TempPrefix(dst) + UniqueSuffix());
  Status st = create(temp);
  if (st.ok()) return std::unique_ptr<AtomicOutput>(new AtomicOutput(fs, dst, temp, options));
  // kInUse: the name was taken (by this PID and these random digits), so the file is not ours.
  // Otherwise the name was free, and whatever is there now is the writer's.
  if (st.code() != Code::kInUse) (void)fs->Unlink(temp);
  return st;
}

AtomicOutput::AtomicOutput(FileSystem* fs, std::string dst, std::string temp,
                           const Options& options)
    : fs_(fs), dst_(std::move(dst)), temp_(std::move(temp)), options_(options) {}

AtomicOutput::~AtomicOutput() {
  if (!committed_) (void)fs_->Unlink(temp_);
}

Status AtomicOutput::Commit() {
  if (committed_) return Status::Ok();
  if (options_.durable) {
    ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs_->Open(temp_, OpenOptions::ReadOnly()));
    RETURN_IF_ERROR(file->Flush());
  }
  if (options_.replace == Replace::kNever) {
    Status st = fs_->RenameNoReplace(temp_, dst_);
    if (st.code() == Code::kInUse) return InUse(dst_ + " appeared while it was being written");
    RETURN_IF_ERROR(st);
  } else {
    RETURN_IF_ERROR(fs_->Rename(temp_, dst_));
  }
  committed_ = true;  // the temporary's name is gone: nothing to unlink any more
  if (!options_.durable) return Status::Ok();
  return fs_->SyncDir(DirName(dst_))
      .WithContext(dst_ + " is complete, but its name may not survive a power loss");
}

}  // namespace hvdisk
