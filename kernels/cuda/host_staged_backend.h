// The GPU backend for code that holds its tensors in host memory (the shard holders'
// Transformer, today): every call copies its inputs to the device, runs the CUDA backend's
// kernel there and copies the result back. The copies cost about what the arithmetic costs on
// the GPU, and far less than the arithmetic on the CPU (a 16K-token × 4096² GEMM: ~0.5 s on 16
// cores, ~20 ms on an H100 plus ~25 ms of copies), so a GPU worker's forwards go through this
// until its activations live on the device.
#pragma once

#include <memory>

#include "kernels/backend.h"

namespace quench::kernels {

// Null when there is no CUDA device `device`.
std::unique_ptr<Backend> MakeHostStagedCudaBackend(int device = 0);

}  // namespace quench::kernels
