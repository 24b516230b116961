// A GPTQ solve on the worker stream: the grid and options as JSON (every field, so the worker
// solves on exactly the coordinator's grid; both run the same release, so enums travel as
// their numbers), and the quantized result as tensors — codes, group parameters, g_idx —
// that rebuild the same QuantizedTensor bit for bit.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/quant/gptq.h"

namespace quench::worker {

std::string GridToWire(const GridSpec& grid);
absl::StatusOr<GridSpec> GridFromWire(const std::string& text);
std::string GptqOptionsToWire(const GptqOptions& options);
absl::StatusOr<GptqOptions> GptqOptionsFromWire(const std::string& text);

// codes U8 [rows, cols]; params I32 [rows·groups, 5] (scale bits, zero, offset bits, ggml d |
// dmin << 16, ggml sub-scale | sub-min << 16); g_idx I32 [cols].
struct QuantizedTensors {
  Tensor codes, params, g_idx;
};
QuantizedTensors QuantizedToTensors(const QuantizedTensor& quantized);
// DATA_LOSS when the tensors do not fit the grid and shape.
absl::StatusOr<QuantizedTensor> QuantizedFromTensors(const GridSpec& grid, int64_t rows,
                                                     int64_t cols, const QuantizedTensors& tensors);

}  // namespace quench::worker
