#include "core/util/process_memory.h"

#include <malloc.h>
#include <sys/resource.h>

namespace quench {

void ReleaseFreedMemory() { ::malloc_trim(0); }

int64_t PeakResidentBytes() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace quench
