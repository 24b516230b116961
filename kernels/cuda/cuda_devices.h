// What the CUDA (or HIP) runtime sees. The full GPU backend arrives with the GPU-worker issue;
// this keeps the toolchain exercised in every build that has nvcc.
#pragma once

namespace quench::kernels::cuda {

// Number of usable devices; 0 when there is no driver or no device (never an error).
int DeviceCount();

}  // namespace quench::kernels::cuda
