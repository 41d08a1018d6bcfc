#include "cli/interrupt.h"

#include <atomic>

namespace hvdisk::cli {
namespace {

std::atomic<int> g_signal{0};  // the first cancelling signal, 0 before one
static_assert(std::atomic<int>::is_always_lock_free, "set from a signal handler");

void OnCancelSignal(int signo) {
  int none = 0;
  g_signal.compare_exchange_strong(none, signo);
}

// Installs the handler for `signo` unless the signal is ignored; *old gets what was there.
void Install(int signo, struct sigaction* old) {
  struct sigaction now {};
  if (sigaction(signo, nullptr, old) != 0 || old->sa_handler == SIG_IGN) return;
  now.sa_handler = OnCancelSignal;
  now.sa_flags = SA_RESTART | SA_RESETHAND;
  sigemptyset(&now.sa_mask);
  (void)sigaction(signo, &now, nullptr);
}

}  // namespace

CancelOnSignals::CancelOnSignals() {
  Install(SIGINT, &old_int_);
  Install(SIGTERM, &old_term_);
}

CancelOnSignals::~CancelOnSignals() {
  (void)sigaction(SIGINT, &old_int_, nullptr);
  (void)sigaction(SIGTERM, &old_term_, nullptr);
}

bool CancelRequested() { return g_signal.load() != 0; }

Status CancelledBySignal() {
  return Cancelled(g_signal.load() == SIGTERM ? "interrupted by SIGTERM" : "interrupted by SIGINT");
}

void EndByCancelSignal() {
  const int signo = g_signal.load();
  if (signo == 0) return;
  (void)signal(signo, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signo);
  (void)sigprocmask(SIG_UNBLOCK, &set, nullptr);
  (void)raise(signo);
}

}  // namespace hvdisk::cli
