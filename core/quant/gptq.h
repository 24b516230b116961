// GPTQ (Frantar et al., 2022): quantizes a linear layer's weight column by column, pushing
// each column's quantization error onto the columns not yet quantized through the inverse
// Hessian of the layer's inputs, so the layer's output changes as little as possible.
//
// Follows the reference algorithm: dampening (a fraction of the mean Hessian diagonal), dead
// inputs (zero diagonal) zeroed, Cholesky factor of the inverse Hessian, lazy block updates,
// optional act-order (columns by decreasing Hessian diagonal, with g_idx) and static groups.
// Computed in double; rows are independent and are split over threads in fixed chunks, so the
// result does not depend on the thread count.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/quant/quantized_tensor.h"
#include "core/recipe/recipe.h"

namespace quench {

class ThreadPool;

struct GptqResult {
  QuantizedTensor quantized;
  double loss = 0.0;         // Σ (w - q)² / Hinv_cc² / 2, as the reference reports it
  double damp = 0.0;         // the dampening actually added to the diagonal
  int64_t dead_columns = 0;  // inputs never active in calibration (weights set to 0)
};

// Where GPTQ's lazy block updates run — W[:, i2:] −= E·U[i1:i2, i2:] over every row, the bulk
// of its arithmetic — while the column-by-column quantization stays on the host. The default
// updates the host matrix in the same fixed row chunks as the quantization; a GPU updater
// (kernels/cuda/gptq_gpu_updater.h) keeps the matrix on the device.
class GptqUpdater {
 public:
  virtual ~GptqUpdater() = default;
  // The permuted weights W (row-major [rows, cols], the host copy the quantization reads) and
  // the upper Cholesky factor U of H⁻¹ (row-major [cols, cols]); both outlive the solve.
  virtual absl::Status Begin(double* w, const double* u, int64_t rows, int64_t cols) = 0;
  // Brings columns [i1, i2) of the host W up to date with every earlier update.
  virtual absl::Status FetchColumns(int64_t i1, int64_t i2, double* w) = 0;
  // W[:, i2:] −= E·U[i1:i2, i2:], E = errors[rows, i2 − i1] with row stride `errors_stride`.
  virtual absl::Status Update(int64_t i1, int64_t i2, const double* errors,
                              int64_t errors_stride) = 0;
  // Optionally the factorization too: for `a` ([n, n], symmetric), the inverse L⁻¹ of its lower
  // Cholesky factor, column-major into `lower_inverse`; false when `a` is not positive definite.
  // UNIMPLEMENTED (the default) leaves it to the host.
  virtual absl::StatusOr<bool> CholeskyLowerInverse(const double* a, int64_t n,
                                                    double* lower_inverse) {
    (void)a, (void)n, (void)lower_inverse;
    return absl::UnimplementedError("the host factors");
  }
};

// `weight`: fp32 [rows, cols]. `hessian`: row-major [cols, cols], 2XᵀX/n. `updater`: where the
// lazy updates run (null: on the host, which makes the result independent of thread count;
// another updater sums in its own order, so a code may differ where a value sits on a rounding
// boundary).
absl::StatusOr<GptqResult> QuantizeGptq(const Tensor& weight, const std::vector<double>& hessian,
                                        const GridSpec& grid, const GptqOptions& options,
                                        ThreadPool* pool = nullptr, GptqUpdater* updater = nullptr);

}  // namespace quench
