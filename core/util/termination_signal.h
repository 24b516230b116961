// SIGTERM / SIGINT for the daemons: blocked in every thread (call before starting any), then
// taken synchronously by whichever thread waits for them, so shutdown runs as ordinary code.
#pragma once

namespace quench {

void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT arrives; the signal's number.
int WaitForTerminationSignal();
// As above for at most `seconds`; 0 when none arrived by then.
int WaitForTerminationSignalFor(double seconds);

}  // namespace quench
