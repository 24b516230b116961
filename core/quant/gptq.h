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

// `weight`: fp32 [rows, cols]. `hessian`: row-major [cols, cols], 2XᵀX/n.
absl::StatusOr<GptqResult> QuantizeGptq(const Tensor& weight, const std::vector<double>& hessian,
                                        const GridSpec& grid, const GptqOptions& options,
                                        ThreadPool* pool = nullptr);

}  // namespace quench
