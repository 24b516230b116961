// The compute backend on an NVIDIA GPU (the same sources build for AMD through HIP): every
// pointer given to it is device memory. Matrix products go through cuBLAS in fp32 with fp32
// accumulation (no TF32: the forward must match the CPU backend's numbers closely enough for
// calibration statistics; see kernels/cuda/README.md for tolerances and settings); the other
// operations are the kernels of elementwise_kernels.h. Calls are ordered on one stream and
// return once their results are written (each call synchronizes), as the CPU backend does.
#pragma once

#include <memory>

#include "kernels/backend.h"

namespace quench::kernels {

// The backend on CUDA device `device`; null when there is no such device.
std::unique_ptr<Backend> MakeCudaBackend(int device = 0);

}  // namespace quench::kernels
