// GPTQ's Hessian statistics Σxᵀx on a GPU, computed as the CPU's HessianAccumulator does: fp32
// products over fixed chunks of 256 tokens (cuBLAS SGEMM, pedantic fp32: TF32's 10-bit mantissa
// would lose what the Hessian's small eigenvalues carry), each chunk's sums added into double on
// the device. The result equals the CPU's to fp32 rounding of the chunk products (another
// summation order inside SGEMM), not bit for bit; a job keeps its statistics on one kind of
// device.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace quench::kernels {

class GpuHessianAccumulator {
 public:
  // Null when `device` does not exist.
  static std::unique_ptr<GpuHessianAccumulator> Create(int64_t dim, int device = 0);
  virtual ~GpuHessianAccumulator() = default;

  // Adds xᵀx for x fp32 [tokens, dim] in device memory.
  virtual void Accumulate(const float* device_x, int64_t tokens) = 0;
  virtual int64_t tokens() const = 0;
  // Back to no tokens, the buffers kept.
  virtual void Reset() = 0;
  // Σxᵀx, row-major [dim, dim] (symmetric), copied to the host.
  virtual std::vector<double> Sums() const = 0;
};

}  // namespace quench::kernels
