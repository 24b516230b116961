// Returning freed memory to the system between the stages of long jobs.
#pragma once

namespace quench {

// Gives the allocator's free memory back to the system. glibc raises its mmap threshold to the
// largest block freed so far (up to 32 MiB) and then keeps such tensors in its heap, where
// freed memory stays with the process: a job streaming blocks would otherwise hold several
// blocks' worth of it. Called between blocks, it costs milliseconds. (A fixed 4 MiB mmap
// threshold kept the peak lower still but cost 12% more time in page faults.)
void ReleaseFreedMemory();

}  // namespace quench
