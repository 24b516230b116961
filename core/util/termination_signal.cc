#include "core/util/termination_signal.h"

#include <pthread.h>
#include <signal.h>

namespace quench {
namespace {

sigset_t TerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

}  // namespace

void BlockTerminationSignals() {
  const sigset_t signals = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int WaitForTerminationSignal() {
  const sigset_t signals = TerminationSignals();
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

int WaitForTerminationSignalFor(double seconds) {
  const sigset_t signals = TerminationSignals();
  timespec timeout;
  timeout.tv_sec = static_cast<time_t>(seconds);
  timeout.tv_nsec = static_cast<long>((seconds - static_cast<double>(timeout.tv_sec)) * 1e9);
  const int received = sigtimedwait(&signals, nullptr, &timeout);
  return received > 0 ? received : 0;
}

}  // namespace quench
