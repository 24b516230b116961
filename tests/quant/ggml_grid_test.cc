// ggml grids against llama.cpp's own codec (core/gguf/ggml_types, itself checked byte for byte
// against llama.cpp): RTN on a k-quant grid writes exactly the blocks llama.cpp's quantizer
// writes, every solver's result packs into blocks that decode to the solver's weights bit for
// bit, codes are the nearest under their group's parameters, and GPTQ on the grid beats RTN.
#include "core/quant/ggml_grid.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <span>
#include <vector>

#include "core/quant/gptq.h"
#include "core/quant/hessian.h"
#include "core/quant/quantized_tensor.h"

namespace quench {
namespace {

constexpr GgmlType kFieldTypes[] = {GgmlType::kQ4_1, GgmlType::kQ5_1, GgmlType::kQ2_K,
                                    GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K,
                                    GgmlType::kQ6_K};

Tensor GaussianMatrix(int64_t rows, int64_t cols, uint32_t seed, float shift = 0.0f) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor t = Tensor::Zeros(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    t.mutable_data<float>()[i] = 0.05f * normal(random) + shift;
  }
  return t;
}

// The quantized tensor as GGUF rows, through the packer the GGUF writer uses.
std::vector<uint8_t> PackRows(const QuantizedTensor& q) {
  const int64_t row_bytes = GgmlRowBytes(q.grid.ggml_type, q.cols);
  std::vector<uint8_t> out(row_bytes * q.rows);
  for (int64_t r = 0; r < q.rows; ++r) PackGgmlRow(q, r, out.data() + r * row_bytes);
  return out;
}

// llama.cpp's decode of packed rows equals the quantized tensor's own decode, bit for bit.
void ExpectDecodesLikeLlamaCpp(const QuantizedTensor& q) {
  const std::vector<uint8_t> rows = PackRows(q);
  const int64_t row_bytes = GgmlRowBytes(q.grid.ggml_type, q.cols);
  const Tensor mine = q.Dequantize();
  std::vector<float> theirs(q.cols);
  for (int64_t r = 0; r < q.rows; ++r) {
    DequantizeGgmlRow(q.grid.ggml_type, std::span(rows).subspan(r * row_bytes, row_bytes), theirs);
    for (int64_t c = 0; c < q.cols; ++c) {
      ASSERT_EQ(std::bit_cast<uint32_t>(mine.data<float>()[r * q.cols + c]),
                std::bit_cast<uint32_t>(theirs[c]))
          << "row " << r << " col " << c;
    }
  }
}

TEST(GgmlGridTest, GridsDescribeTheirBlockTypes) {
  for (GgmlType type : kFieldTypes) {
    const GridSpec grid = GgmlGrid(type);
    SCOPED_TRACE(grid.ToString());
    EXPECT_TRUE(grid.Validate().ok()) << grid.Validate();
    EXPECT_EQ(grid.EffectiveGroupSize(4096), GgmlSubBlockSize(type));
    EXPECT_EQ(grid.ParamSpan(4096), GgmlTypeInfoOf(type).block_size);
    EXPECT_NE(grid.ToString().find(GgmlTypeInfoOf(type).name), std::string::npos);
  }
  EXPECT_EQ(GgmlGrid(GgmlType::kQ4_K).bits, 4);
  EXPECT_EQ(GgmlGrid(GgmlType::kQ3_K).bits, 3);
  EXPECT_TRUE(GgmlGrid(GgmlType::kQ6_K).symmetric);
  EXPECT_FALSE(GgmlGrid(GgmlType::kQ2_K).symmetric);
}

TEST(GgmlGridTest, ValidateRejectsFieldsThatAreNotTheTypes) {
  GridSpec grid = GgmlGrid(GgmlType::kQ4_K);
  grid.group_size = 64;
  EXPECT_FALSE(grid.Validate().ok());
  grid = GgmlGrid(GgmlType::kQ4_K);
  grid.bits = 5;
  EXPECT_FALSE(grid.Validate().ok());
  grid = GgmlGrid(GgmlType::kQ4_K);
  grid.ggml_type = GgmlType::kQ4_0;  // an int grid, not a ggml one
  const absl::Status status = grid.Validate();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("Q4_0"), std::string::npos) << status;
}

TEST(GgmlGridTest, ShapesMustHoldWholeBlocks) {
  EXPECT_FALSE(MakeQuantizedTensor(GgmlGrid(GgmlType::kQ4_K), 4, 128).ok());
  EXPECT_TRUE(MakeQuantizedTensor(GgmlGrid(GgmlType::kQ4_K), 4, 512).ok());
  EXPECT_TRUE(MakeQuantizedTensor(GgmlGrid(GgmlType::kQ4_1), 4, 96).ok());
  EXPECT_FALSE(MakeQuantizedTensor(GgmlGrid(GgmlType::kQ4_1), 4, 100).ok());
}

TEST(GgmlGridTest, RoundToNearestWritesLlamaCppsKQuantBlocks) {
  for (GgmlType type :
       {GgmlType::kQ2_K, GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ5_K, GgmlType::kQ6_K}) {
    SCOPED_TRACE(GgmlTypeInfoOf(type).name);
    // A shift makes the asymmetric types use their minimums.
    const Tensor weight = GaussianMatrix(6, 768, 5, type == GgmlType::kQ4_K ? 0.03f : 0.0f);
    auto q = QuantizeRtn(weight, GgmlGrid(type));
    ASSERT_TRUE(q.ok()) << q.status();
    std::vector<uint8_t> want(GgmlRowBytes(type, 768) * 6);
    for (int64_t r = 0; r < 6; ++r) {
      QuantizeGgmlRow(
          type, std::span(weight.data<float>() + r * 768, 768),
          std::span(want).subspan(r * GgmlRowBytes(type, 768), GgmlRowBytes(type, 768)));
    }
    EXPECT_EQ(PackRows(*q), want);
    ExpectDecodesLikeLlamaCpp(*q);
  }
}

TEST(GgmlGridTest, CodesAreNearestUnderTheirGroupsParameters) {
  for (GgmlType type : kFieldTypes) {
    const GridSpec grid = GgmlGrid(type);
    SCOPED_TRACE(grid.ToString());
    const Tensor weight = GaussianMatrix(3, 512, 9, 0.02f);
    auto q = QuantizeRtn(weight, grid);
    ASSERT_TRUE(q.ok()) << q.status();
    ExpectDecodesLikeLlamaCpp(*q);
    for (int64_t r = 0; r < q->rows; ++r) {
      for (int64_t c = 0; c < q->cols; ++c) {
        const float x = weight.data<float>()[r * q->cols + c];
        const GroupParams& params = q->ParamsAt(r, c);
        const double chosen = std::fabs(x - DecodeValue(q->codes[r * q->cols + c], params, grid));
        for (int code = 0; code < grid.num_codes(); ++code) {
          const double other = std::fabs(x - DecodeValue(static_cast<uint8_t>(code), params, grid));
          // A float ulp of slack: the encoder divides, the check subtracts.
          ASSERT_LE(chosen, other + 1e-6 * std::fabs(x) + 1e-12)
              << "row " << r << " col " << c << " code " << code;
        }
      }
    }
  }
}

TEST(GgmlGridTest, GptqOnTheGridPacksExactlyAndBeatsRoundToNearest) {
  std::mt19937 random(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t rows = 16, cols = 512, tokens = 1024;
  const Tensor weight = GaussianMatrix(rows, cols, 23);
  Tensor x = Tensor::Zeros(DType::kF32, {tokens, cols});
  for (int64_t t = 0; t < tokens; ++t) {  // correlated inputs, uneven channel scales
    const float shared = normal(random);
    for (int64_t k = 0; k < cols; ++k) {
      x.mutable_data<float>()[t * cols + k] = shared + 0.5f * normal(random) * (1 + k % 3);
    }
  }
  HessianAccumulator accumulator(cols);
  accumulator.Accumulate(x);
  const std::vector<double> hessian = accumulator.Finalize();
  const auto output_error = [&](const Tensor& dequantized) {
    double sum = 0.0;
    for (int64_t t = 0; t < tokens; t += 4) {
      for (int64_t r = 0; r < rows; ++r) {
        double diff = 0.0;
        for (int64_t k = 0; k < cols; ++k) {
          diff += x.data<float>()[t * cols + k] *
                  (dequantized.data<float>()[r * cols + k] - weight.data<float>()[r * cols + k]);
        }
        sum += diff * diff;
      }
    }
    return sum;
  };
  for (GgmlType type : {GgmlType::kQ3_K, GgmlType::kQ4_K, GgmlType::kQ6_K, GgmlType::kQ4_1}) {
    const GridSpec grid = GgmlGrid(type);
    SCOPED_TRACE(grid.ToString());
    auto gptq = QuantizeGptq(weight, hessian, grid, GptqOptions{});
    auto rtn = QuantizeRtn(weight, grid);
    ASSERT_TRUE(gptq.ok() && rtn.ok());
    ExpectDecodesLikeLlamaCpp(gptq->quantized);
    const double gptq_error = output_error(gptq->quantized.Dequantize());
    const double rtn_error = output_error(rtn->Dequantize());
    std::printf("%s: output error GPTQ %.4g, RTN %.4g (ratio %.3f)\n", GgmlTypeInfoOf(type).name,
                gptq_error, rtn_error, gptq_error / rtn_error);
    EXPECT_LT(gptq_error, 0.8 * rtn_error);
  }
}

}  // namespace
}  // namespace quench
