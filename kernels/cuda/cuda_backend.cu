#include "kernels/cuda/cuda_backend.h"

#include <cstdio>
#include <cstdlib>

#include "kernels/cuda/cuda_devices.h"
#include "kernels/cuda/elementwise_kernels.h"
#include "kernels/cuda/gpu_blas.h"
#include "kernels/cuda/gpu_runtime.h"

namespace quench::kernels {
namespace {

#define QUENCH_CUBLAS_CHECK(call)                                                                  \
  do {                                                                                             \
    const gpublasStatus_t quench_blas_status = (call);                                             \
    if (quench_blas_status != GPUBLAS_STATUS_SUCCESS) {                                            \
      std::fprintf(stderr, "quench: cuBLAS call %s failed at %s:%d: status %d\n", #call, __FILE__, \
                   __LINE__, static_cast<int>(quench_blas_status));                                \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    QUENCH_GPU_CHECK(gpuSetDevice(device_));
    QUENCH_GPU_CHECK(gpuStreamCreate(&stream_));
    QUENCH_CUBLAS_CHECK(gpublasCreate(&blas_));
    QUENCH_CUBLAS_CHECK(gpublasSetStream(blas_, stream_));
    // Plain fp32: no TF32 tensor-op shortcuts, whatever NVIDIA_TF32_OVERRIDE says elsewhere.
    QUENCH_CUBLAS_CHECK(gpublasUsePedanticMath(blas_));
  }
  ~CudaBackend() override {
    gpublasDestroy(blas_);
    gpuStreamDestroy(stream_);
  }

  std::string_view name() const override { return "cuda"; }

  void Linear(const float* x, int64_t rows, int64_t in, const float* w, const float* bias,
              int64_t out, float* y) override {
    if (rows == 0 || out == 0) return;
    // Row-major y = x·wᵀ is column-major yᵀ[out, rows] = w_cm[in, out]ᵀ · xᵀ_cm[in, rows].
    const float one = 1.0f, zero = 0.0f;
    QUENCH_CUBLAS_CHECK(gpublasSgemm(blas_, GPUBLAS_OP_T, GPUBLAS_OP_N, static_cast<int>(out),
                                     static_cast<int>(rows), static_cast<int>(in), &one, w,
                                     static_cast<int>(in), x, static_cast<int>(in), &zero, y,
                                     static_cast<int>(out)));
    if (bias != nullptr) gpu::AddBias(stream_, y, bias, rows, out);
    Sync();
  }

  void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
               float* y) override {
    gpu::RmsNorm(stream_, x, weight, rows, dim, eps, y);
    Sync();
  }

  void LayerNorm(const float* x, const float* weight, const float* bias, int64_t rows, int64_t dim,
                 float eps, float* y) override {
    gpu::LayerNorm(stream_, x, weight, bias, rows, dim, eps, y);
    Sync();
  }

  void RotaryEmbedding(float* x, int64_t rows, int64_t heads, int64_t head_dim,
                       const int64_t* positions, const float* inv_freq) override {
    gpu::RotaryEmbedding(stream_, x, rows, heads, head_dim, positions, inv_freq);
    Sync();
  }

  void CausalAttention(const float* q, const float* k, const float* v, const int64_t* seq_offsets,
                       int64_t num_seqs, const AttentionShape& shape, float* out) override {
    if (num_seqs == 0) return;
    // The row count is the last offset, which lives on the device.
    int64_t rows = 0;
    QUENCH_GPU_CHECK(gpuMemcpy(&rows, seq_offsets + num_seqs, sizeof(rows), gpuMemcpyDeviceToHost));
    gpu::CausalAttention(stream_, q, k, v, seq_offsets, num_seqs, rows, shape, out);
    Sync();
  }

  void GatedActivation(const float* gate, const float* up, int64_t count, ActivationKind kind,
                       float* out) override {
    gpu::GatedActivation(stream_, gate, up, count, kind, out);
    Sync();
  }

  void Activation(float* x, int64_t count, ActivationKind kind) override {
    gpu::Activation(stream_, x, count, kind);
    Sync();
  }

  void Add(float* x, const float* y, int64_t count) override {
    gpu::Add(stream_, x, y, count);
    Sync();
  }

 private:
  void Sync() { QUENCH_GPU_CHECK(gpuStreamSynchronize(stream_)); }

  int device_;
  gpuStream_t stream_ = nullptr;
  gpublasHandle_t blas_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> MakeCudaBackend(int device) {
  if (device < 0 || device >= cuda::DeviceCount()) return nullptr;
  return std::make_unique<CudaBackend>(device);
}

}  // namespace quench::kernels
