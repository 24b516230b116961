// The process's memory: giving freed memory back between the stages of long jobs, and the
// peak resident size that reports and benchmarks print.
#pragma once

#include <cstdint>

namespace quench {

// Gives the allocator's free memory back to the system. glibc raises its mmap threshold to the
// largest block freed so far (up to 32 MiB) and then keeps such tensors in its heap, where
// freed memory stays with the process: a job streaming blocks would otherwise hold several
// blocks' worth of it. Called between blocks, it costs milliseconds. (A fixed 4 MiB mmap
// threshold kept the peak lower still but cost 12% more time in page faults.)
void ReleaseFreedMemory();

// Peak resident set size of this process so far, in bytes (mapped file pages included).
int64_t PeakResidentBytes();

}  // namespace quench
