#include "kernels/cuda/gpu_hessian.h"

#include <cstdio>
#include <cstdlib>

#include "kernels/cuda/cuda_devices.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/gpu_blas.h"

namespace quench::kernels {
namespace {

// The CPU accumulator's chunk: the same token ranges are summed in fp32 before going to double.
constexpr int64_t kTokensPerChunk = 256;

void CheckBlas(gpublasStatus_t status, const char* what) {
  if (status == GPUBLAS_STATUS_SUCCESS) return;
  std::fprintf(stderr, "quench: cuBLAS %s failed: status %d\n", what, static_cast<int>(status));
  std::abort();
}

class CudaHessianAccumulator final : public GpuHessianAccumulator {
 public:
  CudaHessianAccumulator(int64_t dim, int device)
      : dim_(dim), partial_(static_cast<size_t>(dim * dim)), sums_(static_cast<size_t>(dim * dim)) {
    QUENCH_GPU_CHECK(gpuSetDevice(device));
    QUENCH_GPU_CHECK(gpuStreamCreate(&stream_));
    CheckBlas(gpublasCreate(&blas_), "create");
    CheckBlas(gpublasSetStream(blas_, stream_), "set stream");
    CheckBlas(gpublasUsePedanticMath(blas_), "math mode");
    QUENCH_GPU_CHECK(gpuMemsetAsync(sums_.data(), 0, sums_.bytes(), stream_));
  }
  ~CudaHessianAccumulator() override {
    gpublasDestroy(blas_);
    gpuStreamDestroy(stream_);
  }

  void Accumulate(const float* x, int64_t tokens) override {
    const float one = 1.0f, zero = 0.0f;
    for (int64_t t = 0; t < tokens; t += kTokensPerChunk) {
      const int64_t n = tokens - t < kTokensPerChunk ? tokens - t : kTokensPerChunk;
      // Row-major X [n, dim] is column-major Xᵀ [dim, n]; the full dim × dim product
      // Xᵀ·X = (Xᵀ)(Xᵀ)ᵀ is symmetric, so row- and column-major agree.
      CheckBlas(gpublasSgemm(blas_, GPUBLAS_OP_N, GPUBLAS_OP_T, static_cast<int>(dim_),
                             static_cast<int>(dim_), static_cast<int>(n), &one, x + t * dim_,
                             static_cast<int>(dim_), x + t * dim_, static_cast<int>(dim_), &zero,
                             partial_.data(), static_cast<int>(dim_)),
                "SGEMM");
      gpu::AccumulateToDouble(stream_, partial_.data(), sums_.data(), dim_ * dim_);
    }
    QUENCH_GPU_CHECK(gpuStreamSynchronize(stream_));
    tokens_ += tokens;
  }

  int64_t tokens() const override { return tokens_; }
  void Reset() override {
    QUENCH_GPU_CHECK(gpuMemsetAsync(sums_.data(), 0, sums_.bytes(), stream_));
    QUENCH_GPU_CHECK(gpuStreamSynchronize(stream_));
    tokens_ = 0;
  }
  std::vector<double> Sums() const override { return sums_.Download(); }

 private:
  int64_t dim_;
  int64_t tokens_ = 0;
  gpuStream_t stream_ = nullptr;
  gpublasHandle_t blas_ = nullptr;
  gpu::DeviceBuffer<float> partial_;
  gpu::DeviceBuffer<double> sums_;
};

}  // namespace

std::unique_ptr<GpuHessianAccumulator> GpuHessianAccumulator::Create(int64_t dim, int device) {
  if (device < 0 || device >= cuda::DeviceCount()) return nullptr;
  return std::make_unique<CudaHessianAccumulator>(dim, device);
}

}  // namespace quench::kernels
