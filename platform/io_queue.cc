#include "platform/io_queue.h"

#include <array>
#include <cstdlib>
#include <string>
#include <vector>

#include "platform/aio_queue.h"
#include "platform/sync_queue.h"
#include "platform/uring_queue.h"

namespace hvdisk {
namespace {

constexpr const char* kBackendEnv = "HVDISK_IO_BACKEND";

// HVDISK_IO_BACKEND, or kAuto when unset or empty.
Result<IoBackend> BackendFromEnvironment() {
  const char* value = std::getenv(kBackendEnv);
  if (value == nullptr || *value == '\0') return IoBackend::kAuto;
  Result<IoBackend> parsed = ParseIoBackend(value);
  if (!parsed.ok()) return parsed.status().WithContext(kBackendEnv);
  return parsed;
}

Result<std::unique_ptr<IoQueue>> CreateAuto(unsigned depth) {
  Result<std::unique_ptr<IoQueue>> uring = CreateUringIoQueue(depth);
  if (uring.ok()) return uring;
  Result<std::unique_ptr<IoQueue>> aio = CreateAioIoQueue(depth);
  if (aio.ok()) return aio;
  return std::unique_ptr<IoQueue>(std::make_unique<SyncIoQueue>(depth));
}

}  // namespace

std::string_view IoBackendName(IoBackend b) {
  switch (b) {
    case IoBackend::kAuto:
      return "auto";
    case IoBackend::kIoUring:
      return "uring";
    case IoBackend::kLibaio:
      return "aio";
    case IoBackend::kSync:
      return "sync";
  }
  return "unknown";
}

Result<IoBackend> ParseIoBackend(std::string_view name) {
  if (name == "auto") return IoBackend::kAuto;
  if (name == "uring" || name == "io_uring") return IoBackend::kIoUring;
  if (name == "aio" || name == "libaio") return IoBackend::kLibaio;
  if (name == "sync") return IoBackend::kSync;
  return InvalidArgument("unknown I/O backend \"" + std::string(name) +
                         "\" (expected auto, uring, aio or sync)");
}

bool IoBackendBuilt(IoBackend b) {
  switch (b) {
    case IoBackend::kIoUring:
#ifdef HVDISK_HAVE_LIBURING
      return true;
#else
      return false;
#endif
    case IoBackend::kLibaio:
#ifdef HVDISK_HAVE_LIBAIO
      return true;
#else
      return false;
#endif
    case IoBackend::kAuto:
    case IoBackend::kSync:
      return true;
  }
  return false;
}

Result<std::unique_ptr<IoQueue>> CreateIoQueue(IoBackend backend, unsigned depth) {
  RETURN_IF_ERROR(CheckIoDepth(depth));
  if (backend == IoBackend::kAuto) {
    ASSIGN_OR_RETURN(backend, BackendFromEnvironment());
  }
  switch (backend) {
    case IoBackend::kAuto:
      return CreateAuto(depth);
    case IoBackend::kIoUring:
      return CreateUringIoQueue(depth);
    case IoBackend::kLibaio:
      return CreateAioIoQueue(depth);
    case IoBackend::kSync:
      return std::unique_ptr<IoQueue>(std::make_unique<SyncIoQueue>(depth));
  }
  return InvalidArgument("unknown I/O backend");
}

Status RunAll(IoQueue* queue, std::span<const IoRequest> requests) {
  if (requests.empty()) return Status::Ok();
  if (queue->pending() != 0) {
    return InvalidState("RunAll on an I/O queue with unreaped completions");
  }
  std::vector<IoRequest> tagged(requests.begin(), requests.end());
  for (size_t i = 0; i < tagged.size(); ++i) tagged[i].user_data = i;
  Status submitted = queue->Submit(tagged);

  size_t first_error = tagged.size();
  Status error;
  std::array<IoCompletion, 64> batch;
  while (queue->pending() > 0) {
    ASSIGN_OR_RETURN(size_t n, queue->Reap(batch, 1));
    for (size_t i = 0; i < n; ++i) {
      if (!batch[i].status.ok() && batch[i].user_data < first_error) {
        first_error = batch[i].user_data;
        error = batch[i].status;
      }
    }
  }
  return submitted.ok() ? error : submitted;
}

}  // namespace hvdisk
