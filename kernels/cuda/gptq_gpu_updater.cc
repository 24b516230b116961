#include "kernels/cuda/gptq_gpu_updater.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cuda_devices.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/gpu_blas.h"
#include "kernels/cuda/gpu_runtime.h"

namespace quench::kernels {
namespace {

absl::Status GpuStatus(gpuError_t error, const char* what) {
  if (error == gpuSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("GPU ", what, ": ", gpuGetErrorString(error)));
}

#define QUENCH_RETURN_IF_GPU(call, what)                                           \
  do {                                                                             \
    if (absl::Status quench_status = GpuStatus((call), what); !quench_status.ok()) \
      return quench_status;                                                        \
  } while (0)

absl::Status BlasStatus(gpublasStatus_t status, const char* what) {
  if (status == GPUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("cuBLAS ", what, ": status ", static_cast<int>(status)));
}

class GptqGpuUpdater final : public GptqUpdater {
 public:
  explicit GptqGpuUpdater(int device) : device_(device) {}
  ~GptqGpuUpdater() override {
    if (blas_ != nullptr) gpublasDestroy(blas_);
    if (solver_ != nullptr) gpusolverDestroy(solver_);
  }

  // cuSOLVER Cholesky (potrf, lower) of `a`, then L⁻¹ by a triangular solve against I (trsm).
  absl::StatusOr<bool> CholeskyLowerInverse(const double* a, int64_t n,
                                            double* lower_inverse) override {
    QUENCH_RETURN_IF_GPU(gpuSetDevice(device_), "select device");
    if (auto status = EnsureHandles(); !status.ok()) return status;
    const int size = static_cast<int>(n);
    gpu::DeviceBuffer<double> factor(static_cast<size_t>(n * n));
    QUENCH_RETURN_IF_GPU(gpuMemcpy(factor.data(), a, factor.bytes(), gpuMemcpyHostToDevice),
                         "upload H");
    int workspace_size = 0;
    if (gpusolverDpotrf_bufferSize(solver_, GPUSOLVER_FILL_MODE_LOWER, size, factor.data(), size,
                                   &workspace_size) != GPUSOLVER_STATUS_SUCCESS) {
      return absl::InternalError("cuSOLVER potrf_bufferSize failed");
    }
    gpu::DeviceBuffer<double> workspace(static_cast<size_t>(workspace_size));
    gpu::DeviceBuffer<int> info(1);
    if (gpusolverDpotrf(solver_, GPUSOLVER_FILL_MODE_LOWER, size, factor.data(), size,
                        workspace.data(), workspace_size,
                        info.data()) != GPUSOLVER_STATUS_SUCCESS) {
      return absl::InternalError("cuSOLVER potrf failed");
    }
    if (info.Download()[0] != 0) return false;  // not positive definite
    std::vector<double> identity(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) identity[static_cast<size_t>(i * n + i)] = 1.0;
    gpu::DeviceBuffer<double> inverse(identity);
    const double one = 1.0;
    if (auto status = BlasStatus(gpublasDtrsm(blas_, GPUBLAS_SIDE_LEFT, GPUBLAS_FILL_MODE_LOWER,
                                              GPUBLAS_OP_N, GPUBLAS_DIAG_NON_UNIT, size, size, &one,
                                              factor.data(), size, inverse.data(), size),
                                 "trsm");
        !status.ok()) {
      return status;
    }
    QUENCH_RETURN_IF_GPU(
        gpuMemcpy(lower_inverse, inverse.data(), inverse.bytes(), gpuMemcpyDeviceToHost),
        "download L^-1");
    return true;
  }

  absl::Status Begin(double* w, const double* u, int64_t rows, int64_t cols) override {
    QUENCH_RETURN_IF_GPU(gpuSetDevice(device_), "select device");
    if (auto status = EnsureHandles(); !status.ok()) return status;
    rows_ = rows;
    cols_ = cols;
    w_ = gpu::DeviceBuffer<double>(static_cast<size_t>(rows * cols));
    u_ = gpu::DeviceBuffer<double>(static_cast<size_t>(cols * cols));
    QUENCH_RETURN_IF_GPU(gpuMemcpy(w_.data(), w, w_.bytes(), gpuMemcpyHostToDevice), "upload W");
    QUENCH_RETURN_IF_GPU(gpuMemcpy(u_.data(), u, u_.bytes(), gpuMemcpyHostToDevice), "upload U");
    return absl::OkStatus();
  }

  absl::Status FetchColumns(int64_t i1, int64_t i2, double* w) override {
    const size_t pitch = static_cast<size_t>(cols_) * sizeof(double);
    QUENCH_RETURN_IF_GPU(gpuMemcpy2D(w + i1, pitch, w_.data() + i1, pitch,
                                     static_cast<size_t>(i2 - i1) * sizeof(double),
                                     static_cast<size_t>(rows_), gpuMemcpyDeviceToHost),
                         "fetch columns");
    return absl::OkStatus();
  }

  absl::Status Update(int64_t i1, int64_t i2, const double* errors,
                      int64_t errors_stride) override {
    const size_t count = static_cast<size_t>(rows_ * errors_stride);
    if (errors_.size() < count) errors_ = gpu::DeviceBuffer<double>(count);
    QUENCH_RETURN_IF_GPU(
        gpuMemcpy(errors_.data(), errors, count * sizeof(double), gpuMemcpyHostToDevice),
        "upload errors");
    // Row-major W[:, i2:] is the column-major (cols − i2) × rows matrix at w + i2 (ld cols);
    // U[i1:i2, i2:] the column-major (cols − i2) × B one at u + i1·cols + i2; E the B × rows one
    // at errors (ld errors_stride): Wᵀ[i2:, :] −= U[i1:i2, i2:]ᵀ · Eᵀ.
    const double minus_one = -1.0, one = 1.0;
    return BlasStatus(gpublasDgemm(blas_, GPUBLAS_OP_N, GPUBLAS_OP_N, static_cast<int>(cols_ - i2),
                                   static_cast<int>(rows_), static_cast<int>(i2 - i1), &minus_one,
                                   u_.data() + i1 * cols_ + i2, static_cast<int>(cols_),
                                   errors_.data(), static_cast<int>(errors_stride), &one,
                                   w_.data() + i2, static_cast<int>(cols_)),
                      "DGEMM");
  }

 private:
  absl::Status EnsureHandles() {
    if (blas_ == nullptr) {
      if (auto status = BlasStatus(gpublasCreate(&blas_), "create"); !status.ok()) return status;
      // Double precision has no reduced-precision shortcut to avoid; pedantic all the same.
      if (auto status = BlasStatus(gpublasUsePedanticMath(blas_), "math mode"); !status.ok()) {
        return status;
      }
    }
    if (solver_ == nullptr && gpusolverCreate(&solver_) != GPUSOLVER_STATUS_SUCCESS) {
      return absl::InternalError("cuSOLVER: cannot create a handle");
    }
    return absl::OkStatus();
  }

  int device_;
  gpublasHandle_t blas_ = nullptr;
  gpusolverHandle_t solver_ = nullptr;
  int64_t rows_ = 0, cols_ = 0;
  gpu::DeviceBuffer<double> w_, u_, errors_;
};

}  // namespace

std::unique_ptr<GptqUpdater> MakeGptqGpuUpdater(int device) {
  if (device < 0 || device >= cuda::DeviceCount()) return nullptr;
  return std::make_unique<GptqGpuUpdater>(device);
}

}  // namespace quench::kernels
