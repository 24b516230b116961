// A quantized weight matrix in Quench's internal, unpacked form: what RTN, GPTQ and AWQ
// produce and what the exporters pack into GPTQ / AWQ / compressed-tensors / GGUF layouts.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/quant/grid.h"
#include "core/tensor/tensor.h"

namespace quench {

struct QuantizedTensor {
  GridSpec grid;
  int64_t rows = 0;                 // out_features
  int64_t cols = 0;                 // in_features
  int64_t group_size = 0;           // grid.EffectiveGroupSize(cols)
  int64_t num_groups = 0;           // per row: ceil(cols / group_size); 1 for tensor/channel
  std::vector<uint8_t> codes;       // [rows, cols], row-major, one code per weight
  std::vector<GroupParams> params;  // [rows, num_groups]; tensor granularity repeats row 0's
  // Group of each column, [cols]. Plain grouping has g_idx[c] = c / group_size; GPTQ's
  // act-order may assign groups in another order.
  std::vector<int32_t> g_idx;

  const GroupParams& ParamsAt(int64_t row, int64_t col) const {
    return params[row * num_groups + g_idx[col]];
  }
  // The dequantized matrix, fp32 [rows, cols].
  Tensor Dequantize() const;
};

// Sets up shapes, g_idx = c / group_size, and sized (zeroed) codes/params for a rows×cols
// weight. Fails when the grid does not fit the shape (e.g. mx* needs cols % 32 == 0).
absl::StatusOr<QuantizedTensor> MakeQuantizedTensor(const GridSpec& grid, int64_t rows,
                                                    int64_t cols);

// Round-to-nearest: parameters from each group's values, every value to its nearest code.
// `weight` is fp32 [rows, cols].
absl::StatusOr<QuantizedTensor> QuantizeRtn(const Tensor& weight, const GridSpec& grid);

class ThreadPool;  // core/util/thread_pool.h
// The same on a given pool; the result never depends on its size.
absl::StatusOr<QuantizedTensor> QuantizeRtn(const Tensor& weight, const GridSpec& grid,
                                            ThreadPool& pool);

}  // namespace quench
