#include "core/quant/affine_decode.h"

namespace quench {

absl::StatusOr<AffineDecode> MakeAffineDecode(const QuantizedTensor& tensor) {
  const GridSpec& grid = tensor.grid;
  if (grid.kind == GridKind::kGgml) {
    return absl::UnimplementedError("ggml grids decode through sub-block factors, not one step");
  }
  AffineDecode decode;
  // Unit parameters: the level itself (symmetric ints already minus their offset; asymmetric
  // ints the raw code, their zero point applied per group).
  const GroupParams unit;
  decode.levels.resize(256);
  for (int code = 0; code < 256; ++code) {
    decode.levels[code] = DecodeValue(static_cast<uint8_t>(code), unit, grid);
  }
  const bool zero_points = grid.kind == GridKind::kInt && !grid.symmetric;
  decode.scales.reserve(tensor.params.size());
  decode.zeros.reserve(tensor.params.size());
  for (const GroupParams& params : tensor.params) {
    decode.scales.push_back(params.scale);
    decode.zeros.push_back(zero_points ? static_cast<float>(params.zero) : 0.0f);
  }
  return decode;
}

}  // namespace quench
