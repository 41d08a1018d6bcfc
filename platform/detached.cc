#include "platform/detached.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace hvdisk {

bool RunDetached(void (*child)(const void* arg), const void* arg) {
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    child(arg);
    ::_exit(127);  // child must not return
  }
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  return true;
}

void CloseDescriptors(unsigned first, unsigned last) {
  if (first > last) return;
#ifdef SYS_close_range
  ::syscall(SYS_close_range, first, last, 0u);
#else
  for (unsigned fd = first; fd <= last && fd < 1024; ++fd) ::close(static_cast<int>(fd));
#endif
}

}  // namespace hvdisk
