// A solve's grid, options and result cross the worker stream unchanged: every grid field, and
// a quantized tensor's codes, group parameters (ggml factors included) and g_idx bit for bit.
#include "worker/solve_wire.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "core/quant/ggml_grid.h"

namespace quench::worker {
namespace {

Tensor RandomWeight(int64_t rows, int64_t cols, unsigned seed) {
  Tensor weight = Tensor::Zeros(DType::kF32, {rows, cols});
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 0.02f);
  for (int64_t i = 0; i < rows * cols; ++i) weight.mutable_data<float>()[i] = normal(random);
  return weight;
}

void ExpectSameQuantized(const QuantizedTensor& a, const QuantizedTensor& b) {
  EXPECT_EQ(a.codes, b.codes);
  EXPECT_EQ(a.g_idx, b.g_idx);
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i) {
    EXPECT_EQ(std::memcmp(&a.params[i].scale, &b.params[i].scale, 4), 0) << i;
    EXPECT_EQ(a.params[i].zero, b.params[i].zero);
    EXPECT_EQ(std::memcmp(&a.params[i].offset, &b.params[i].offset, 4), 0) << i;
    EXPECT_EQ(a.params[i].ggml_d, b.params[i].ggml_d);
    EXPECT_EQ(a.params[i].ggml_dmin, b.params[i].ggml_dmin);
    EXPECT_EQ(a.params[i].ggml_sub_scale, b.params[i].ggml_sub_scale);
    EXPECT_EQ(a.params[i].ggml_sub_min, b.params[i].ggml_sub_min);
  }
  const Tensor da = a.Dequantize(), db = b.Dequantize();
  EXPECT_EQ(std::memcmp(da.raw_data(), db.raw_data(), da.num_bytes()), 0);
}

TEST(SolveWireTest, GridsAndOptionsRoundTripEveryField) {
  GridSpec grid;
  grid.bits = 3;
  grid.symmetric = false;
  grid.group_size = 64;
  grid.scale_dtype = DType::kBF16;
  grid.observer = Observer::kMse;
  grid.mse_grid = 37;
  grid.mse_max_shrink = 0.123456789012345;
  auto back = GridFromWire(GridToWire(grid));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(GridToWire(*back), GridToWire(grid));
  EXPECT_EQ(back->mse_max_shrink, grid.mse_max_shrink);
  const GridSpec ggml = GgmlGrid(GgmlType::kQ4_K);
  EXPECT_EQ(GridToWire(GridFromWire(GridToWire(ggml)).value()), GridToWire(ggml));

  GptqOptions options;
  options.damp_percent = 0.0123;
  options.block_size = 64;
  options.act_order = true;
  options.static_groups = true;
  auto options_back = GptqOptionsFromWire(GptqOptionsToWire(options));
  ASSERT_TRUE(options_back.ok());
  EXPECT_EQ(GptqOptionsToWire(*options_back), GptqOptionsToWire(options));
  EXPECT_FALSE(GridFromWire("{\"kind\": 0}").ok());
  EXPECT_FALSE(GptqOptionsFromWire("not json").ok());
}

TEST(SolveWireTest, QuantizedTensorsRebuildBitForBit) {
  GridSpec asym;
  asym.symmetric = false;
  asym.group_size = 32;
  for (const GridSpec& grid : {asym, GgmlGrid(GgmlType::kQ4_K), GgmlGrid(GgmlType::kQ6_K)}) {
    SCOPED_TRACE(grid.ToString());
    auto quantized = QuantizeRtn(RandomWeight(4, 256, 7), grid);
    ASSERT_TRUE(quantized.ok()) << quantized.status();
    // A permuted g_idx, as act-order leaves it.
    if (grid.kind == GridKind::kInt) std::reverse(quantized->g_idx.begin(), quantized->g_idx.end());
    auto back = QuantizedFromTensors(grid, 4, 256, QuantizedToTensors(*quantized));
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSameQuantized(*back, *quantized);
  }
}

TEST(SolveWireTest, TensorsThatDoNotFitAreDataLoss) {
  GridSpec grid;
  grid.group_size = 32;
  auto quantized = QuantizeRtn(RandomWeight(2, 64, 8), grid);
  ASSERT_TRUE(quantized.ok());
  QuantizedTensors tensors = QuantizedToTensors(*quantized);
  EXPECT_EQ(QuantizedFromTensors(grid, 2, 32, tensors).status().code(),
            absl::StatusCode::kDataLoss);
  tensors.g_idx.mutable_data<int32_t>()[5] = 99;
  EXPECT_EQ(QuantizedFromTensors(grid, 2, 64, tensors).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace quench::worker
