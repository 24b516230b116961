// A quantized tensor's decode as one table lookup and one affine step per group:
// value = (levels[code] − zeros[group]) × scales[group], bit for bit what DecodeValue gives,
// for every grid kind but ggml's (whose sub-block factors are not one step). What the GPU
// dequantize kernel reads (kernels/cuda/quantized_kernels), built here on the host.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/quant/quantized_tensor.h"

namespace quench {

struct AffineDecode {
  std::vector<float> levels;  // 256: a code's value with unit scale and zero
  std::vector<float> scales;  // [rows, num_groups]
  std::vector<float> zeros;   // [rows, num_groups]: the asymmetric int zero point, else 0
};

// UNIMPLEMENTED for ggml grids.
absl::StatusOr<AffineDecode> MakeAffineDecode(const QuantizedTensor& tensor);

}  // namespace quench
