// The GPU dequantizer's tables, checked on the host: (levels[code] − zeros[g]) × scales[g]
// equals QuantizedTensor::Dequantize bit for bit for every non-ggml grid kind.
#include "core/quant/affine_decode.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

namespace quench {
namespace {

GridSpec Grid(GridKind kind, int bits, bool symmetric) {
  GridSpec grid;
  grid.kind = kind;
  grid.bits = bits;
  grid.symmetric = symmetric;
  grid.group_size = 32;
  return grid;
}

TEST(AffineDecodeTest, TablesReproduceDequantizeBitForBit) {
  const int64_t rows = 8, cols = 96;
  std::mt19937 random(4);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor weight = Tensor::Zeros(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < weight.num_elements(); ++i)
    weight.mutable_data<float>()[i] = normal(random);
  for (const GridSpec& grid : {Grid(GridKind::kInt, 4, true), Grid(GridKind::kInt, 4, false),
                               Grid(GridKind::kInt, 3, false), Grid(GridKind::kInt, 8, true),
                               Grid(GridKind::kFp8, 8, true), Grid(GridKind::kNf4, 4, true),
                               Grid(GridKind::kFp4, 4, true), Grid(GridKind::kMxFp4, 4, true),
                               Grid(GridKind::kMxFp8, 8, true), Grid(GridKind::kMxInt8, 8, true)}) {
    SCOPED_TRACE(grid.ToString());
    ASSERT_TRUE(grid.Validate().ok()) << grid.Validate();
    auto quantized = QuantizeRtn(weight, grid);
    ASSERT_TRUE(quantized.ok()) << quantized.status();
    auto decode = MakeAffineDecode(*quantized);
    ASSERT_TRUE(decode.ok());
    const Tensor expected = quantized->Dequantize();
    int mismatches = 0;
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t g = r * quantized->num_groups + quantized->g_idx[c];
        const float value =
            (decode->levels[quantized->codes[r * cols + c]] - decode->zeros[g]) * decode->scales[g];
        const float want = expected.data<float>()[r * cols + c];
        mismatches += std::memcmp(&value, &want, sizeof(float)) != 0;
      }
    }
    EXPECT_EQ(mismatches, 0);
  }
  GridSpec ggml;
  ggml.kind = GridKind::kGgml;
  QuantizedTensor ggml_tensor;
  ggml_tensor.grid = ggml;
  EXPECT_TRUE(absl::IsUnimplemented(MakeAffineDecode(ggml_tensor).status()));
}

}  // namespace
}  // namespace quench
