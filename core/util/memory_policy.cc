#include "core/util/memory_policy.h"

#include <malloc.h>

namespace quench {

void ReleaseFreedMemory() { ::malloc_trim(0); }

}  // namespace quench
