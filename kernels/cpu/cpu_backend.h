// The CPU backend: Eigen for matrix products, a thread pool for everything else. Work is split
// into chunks whose size depends only on the problem, and Eigen's blocking is pinned to fixed
// cache sizes, so results are identical for every thread count and every x86-64 host.
#pragma once

#include <memory>

#include "kernels/backend.h"

namespace quench {
class ThreadPool;
}

namespace quench::kernels {

// `pool` may be null: then the process-wide default pool is used.
std::unique_ptr<Backend> MakeCpuBackend(ThreadPool* pool = nullptr);

}  // namespace quench::kernels
