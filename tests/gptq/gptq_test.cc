// GPTQ against an obvious reference written here: unblocked, column by column, with the inverse
// Hessian and its Cholesky factor computed by plain loops. Same codes expected.
#include "core/quant/gptq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <span>

#include "core/quant/ggml_grid.h"
#include "core/quant/hessian.h"
#include "core/util/thread_pool.h"

namespace quench {
namespace {

using Matrix = std::vector<std::vector<double>>;

Matrix Inverse(Matrix a) {  // Gauss-Jordan with partial pivoting
  const size_t n = a.size();
  Matrix inv(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i) inv[i][i] = 1.0;
  for (size_t c = 0; c < n; ++c) {
    size_t pivot = c;
    for (size_t r = c + 1; r < n; ++r) {
      if (std::fabs(a[r][c]) > std::fabs(a[pivot][c])) pivot = r;
    }
    std::swap(a[c], a[pivot]);
    std::swap(inv[c], inv[pivot]);
    const double p = a[c][c];
    for (size_t k = 0; k < n; ++k) {
      a[c][k] /= p;
      inv[c][k] /= p;
    }
    for (size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double f = a[r][c];
      for (size_t k = 0; k < n; ++k) {
        a[r][k] -= f * a[c][k];
        inv[r][k] -= f * inv[c][k];
      }
    }
  }
  return inv;
}

Matrix UpperCholesky(const Matrix& a) {  // a = UᵀU
  const size_t n = a.size();
  Matrix u(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i) {
    double s = a[i][i];
    for (size_t k = 0; k < i; ++k) s -= u[k][i] * u[k][i];
    u[i][i] = std::sqrt(s);
    for (size_t j = i + 1; j < n; ++j) {
      double t = a[i][j];
      for (size_t k = 0; k < i; ++k) t -= u[k][i] * u[k][j];
      u[i][j] = t / u[i][i];
    }
  }
  return u;
}

struct Case {
  const char* name;
  GridSpec grid;
  GptqOptions options;
  int64_t rows;
  int64_t cols;
  int dead_columns;
  friend void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }
};

// Codes [rows][cols] from the textbook algorithm.
std::vector<std::vector<uint8_t>> ReferenceGptq(Matrix w, Matrix h, const Case& c) {
  const size_t rows = w.size(), cols = h.size();
  const int64_t gs = c.grid.EffectiveGroupSize(cols);
  const size_t span = c.grid.ParamSpan(cols);
  const bool per_group = gs < static_cast<int64_t>(cols);
  const bool static_params = c.options.static_groups || !per_group;
  for (size_t j = 0; j < cols; ++j) {
    if (h[j][j] == 0.0) {
      h[j][j] = 1.0;
      for (auto& row : w) row[j] = 0.0;
    }
  }
  // Parameters from the original weights (static), per row and natural group.
  auto group_values = [&](const Matrix& m, size_t r, size_t begin, size_t end) {
    std::vector<float> v;
    for (size_t k = begin; k < end; ++k) v.push_back(static_cast<float>(m[r][k]));
    return v;
  };
  std::vector<std::vector<GroupParams>> fixed(rows);
  if (static_params) {
    if (c.grid.granularity == Granularity::kTensor) {
      std::vector<float> all;
      for (size_t r = 0; r < rows; ++r) {
        for (double v : w[r]) all.push_back(static_cast<float>(v));
      }
      for (auto& f : fixed) f = {ChooseGroupParams(all, c.grid)};
    } else {
      for (size_t r = 0; r < rows; ++r) {
        fixed[r].resize((cols + gs - 1) / gs);
        for (size_t b = 0; b < cols; b += span) {
          const size_t end = std::min(cols, b + span);
          ChooseSpanParams(group_values(w, r, b, end), c.grid, gs,
                           std::span(fixed[r]).subspan(b / gs, (end - b + gs - 1) / gs));
        }
      }
    }
  }
  std::vector<size_t> perm(cols);
  std::iota(perm.begin(), perm.end(), 0);
  if (c.options.act_order) {
    std::stable_sort(perm.begin(), perm.end(),
                     [&](size_t a, size_t b) { return h[a][a] > h[b][b]; });
  }
  Matrix wp(rows, std::vector<double>(cols)), hp(cols, std::vector<double>(cols));
  for (size_t j = 0; j < cols; ++j) {
    for (size_t r = 0; r < rows; ++r) wp[r][j] = w[r][perm[j]];
    for (size_t i = 0; i < cols; ++i) hp[i][j] = h[perm[i]][perm[j]];
  }
  double mean_diagonal = 0.0;
  for (size_t i = 0; i < cols; ++i) mean_diagonal += hp[i][i] / cols;
  for (size_t i = 0; i < cols; ++i) hp[i][i] += c.options.damp_percent * mean_diagonal;
  const Matrix u = UpperCholesky(Inverse(hp));

  std::vector<std::vector<uint8_t>> codes(rows, std::vector<uint8_t>(cols));
  std::vector<std::vector<GroupParams>> dynamic(rows,
                                                std::vector<GroupParams>((cols + gs - 1) / gs));
  for (size_t j = 0; j < cols; ++j) {
    for (size_t r = 0; r < rows; ++r) {
      if (!static_params && j % span == 0) {  // a group, or all groups of a ggml block
        const size_t end = std::min(cols, j + span);
        ChooseSpanParams(group_values(wp, r, j, end), c.grid, gs,
                         std::span(dynamic[r]).subspan(j / gs, (end - j + gs - 1) / gs));
      }
      const GroupParams& p =
          static_params ? fixed[r][per_group ? perm[j] / gs : 0] : dynamic[r][j / gs];
      const uint8_t code = EncodeValue(static_cast<float>(wp[r][j]), p, c.grid);
      codes[r][perm[j]] = code;
      const double error = (wp[r][j] - DecodeValue(code, p, c.grid)) / u[j][j];
      for (size_t k = j + 1; k < cols; ++k) wp[r][k] -= error * u[j][k];
    }
  }
  return codes;
}

class GptqReferenceTest : public ::testing::TestWithParam<Case> {};

TEST_P(GptqReferenceTest, SameCodesAsTextbookAlgorithm) {
  const Case& c = GetParam();
  std::mt19937 random(42);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor weight = Tensor::Zeros(DType::kF32, {c.rows, c.cols});
  for (int64_t i = 0; i < weight.num_elements(); ++i)
    weight.mutable_data<float>()[i] = 0.1f * normal(random);
  // Inputs with uneven channel scales (as real activations have) and some dead channels.
  const int64_t tokens = 3 * c.cols;
  Tensor x = Tensor::Zeros(DType::kF32, {tokens, c.cols});
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t k = 0; k < c.cols; ++k) {
      const bool dead = k % 17 == 3 && k / 17 < c.dead_columns;
      x.mutable_data<float>()[t * c.cols + k] = dead ? 0.0f : normal(random) * (1.0f + (k % 5));
    }
  }
  HessianAccumulator accumulator(c.cols);
  accumulator.Accumulate(x);
  const std::vector<double> hessian = accumulator.Finalize();

  auto result = QuantizeGptq(weight, hessian, c.grid, c.options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->dead_columns, c.dead_columns);
  EXPECT_GT(result->loss, 0.0);

  Matrix w(c.rows, std::vector<double>(c.cols)), h(c.cols, std::vector<double>(c.cols));
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t k = 0; k < c.cols; ++k) w[r][k] = weight.data<float>()[r * c.cols + k];
  }
  for (int64_t i = 0; i < c.cols; ++i) {
    for (int64_t j = 0; j < c.cols; ++j) h[i][j] = hessian[i * c.cols + j];
  }
  const auto expected = ReferenceGptq(w, h, c);
  int64_t mismatches = 0;
  for (int64_t r = 0; r < c.rows; ++r) {
    for (int64_t k = 0; k < c.cols; ++k) {
      mismatches += result->quantized.codes[r * c.cols + k] != expected[r][k];
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << c.rows * c.cols << " codes";
}

GridSpec Grid(int bits, bool symmetric, Granularity granularity, int64_t group_size) {
  GridSpec grid;
  grid.bits = bits;
  grid.symmetric = symmetric;
  grid.granularity = granularity;
  grid.group_size = group_size;
  return grid;
}

GptqOptions Options(bool act_order, bool static_groups, int64_t block_size = 128) {
  GptqOptions options;
  options.act_order = act_order;
  options.static_groups = static_groups;
  options.block_size = block_size;
  return options;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, GptqReferenceTest,
    ::testing::Values(
        Case{"Int4SymGroup32", Grid(4, true, Granularity::kGroup, 32), Options(false, false), 24,
             160, 0},
        Case{"Int4AsymActOrderStaticGroups", Grid(4, false, Granularity::kGroup, 32),
             Options(true, true), 24, 160, 0},
        Case{"Int3ActOrderDynamicRaggedGroups", Grid(3, false, Granularity::kGroup, 48),
             Options(true, false), 20, 172, 0},
        Case{"Int4SymRaggedSmallBlocks", Grid(4, true, Granularity::kGroup, 32),
             Options(false, false, 20), 18, 172, 0},
        Case{"Int8PerChannelDeadInputs", Grid(8, true, Granularity::kChannel, 0),
             Options(true, false), 16, 136, 3},
        Case{"Int2PerTensor", Grid(2, false, Granularity::kTensor, 0), Options(false, false, 32),
             12, 96, 0},
        Case{"Int4GroupLargerThanBlock", Grid(4, true, Granularity::kGroup, 64),
             Options(false, false, 16), 10, 192, 1},
        // ggml grids: a block's groups get their parameters together, when GPTQ
        // reaches the block (or up front with static groups).
        Case{"GgmlQ4_KSuperBlocksOverLazyBlocks", GgmlGrid(GgmlType::kQ4_K),
             Options(false, false, 128), 8, 512, 0},
        Case{"GgmlQ6_KActOrderStatic", GgmlGrid(GgmlType::kQ6_K), Options(true, true), 8, 512, 2},
        Case{"GgmlQ2_KActOrderDynamic", GgmlGrid(GgmlType::kQ2_K), Options(true, false), 6, 256, 0},
        Case{"GgmlQ5_1SmallBlocks", GgmlGrid(GgmlType::kQ5_1), Options(false, false, 20), 8, 160,
             0}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(GptqTest, ReducesOutputErrorVersusRoundToNearest) {
  std::mt19937 random(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t rows = 64, cols = 128, tokens = 512;
  Tensor weight = Tensor::Zeros(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < weight.num_elements(); ++i)
    weight.mutable_data<float>()[i] = normal(random);
  Tensor x = Tensor::Zeros(DType::kF32, {tokens, cols});
  // Correlated inputs: GPTQ's error feedback pays off when inputs are not independent.
  for (int64_t t = 0; t < tokens; ++t) {
    const float shared = normal(random);
    for (int64_t k = 0; k < cols; ++k) {
      x.mutable_data<float>()[t * cols + k] = shared + 0.5f * normal(random) * (1 + k % 3);
    }
  }
  HessianAccumulator accumulator(cols);
  accumulator.Accumulate(x);
  const GridSpec grid = Grid(4, true, Granularity::kGroup, 32);
  auto gptq = QuantizeGptq(weight, accumulator.Finalize(), grid, Options(true, true));
  auto rtn = QuantizeRtn(weight, grid);
  ASSERT_TRUE(gptq.ok() && rtn.ok());
  auto output_error = [&](const Tensor& dequantized) {
    double sum = 0.0;
    for (int64_t t = 0; t < tokens; ++t) {
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
  const double gptq_error = output_error(gptq->quantized.Dequantize());
  const double rtn_error = output_error(rtn->Dequantize());
  EXPECT_LT(gptq_error, 0.7 * rtn_error) << "GPTQ " << gptq_error << " vs RTN " << rtn_error;
}

TEST(GptqTest, ResultDoesNotDependOnThreadCount) {
  std::mt19937 random(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t rows = 70, cols = 96;
  Tensor weight = Tensor::Zeros(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < weight.num_elements(); ++i)
    weight.mutable_data<float>()[i] = normal(random);
  Tensor x = Tensor::Zeros(DType::kF32, {300, cols});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.mutable_data<float>()[i] = normal(random);
  HessianAccumulator accumulator(cols);
  accumulator.Accumulate(x);
  const auto hessian = accumulator.Finalize();
  ThreadPool one(1), three(3);
  const GridSpec grid = Grid(4, false, Granularity::kGroup, 32);
  auto a = QuantizeGptq(weight, hessian, grid, Options(true, false), &one);
  auto b = QuantizeGptq(weight, hessian, grid, Options(true, false), &three);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->quantized.codes, b->quantized.codes);
  EXPECT_EQ(a->loss, b->loss);
}

TEST(HessianTest, AccumulatorMatchesPlainSumsAndMergesInOrder) {
  std::mt19937 random(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const int64_t dim = 70;
  Tensor a = Tensor::Zeros(DType::kF32, {40, dim});
  Tensor b = Tensor::Zeros(DType::kF32, {25, dim});
  for (int64_t i = 0; i < a.num_elements(); ++i) a.mutable_data<float>()[i] = normal(random);
  for (int64_t i = 0; i < b.num_elements(); ++i) b.mutable_data<float>()[i] = normal(random);
  HessianAccumulator first(dim), second(dim), total(dim);
  first.Accumulate(a);
  second.Accumulate(b);
  total.Merge(first);
  total.Merge(second);
  const auto h = total.Finalize();
  for (int64_t i = 0; i < dim; i += 7) {
    for (int64_t j = 0; j < dim; j += 5) {
      double expected = 0.0;
      for (int64_t t = 0; t < 40; ++t)
        expected += double(a.data<float>()[t * dim + i]) * a.data<float>()[t * dim + j];
      for (int64_t t = 0; t < 25; ++t)
        expected += double(b.data<float>()[t * dim + i]) * b.data<float>()[t * dim + j];
      // fp32 products within chunks of tokens, double across chunks: ~1e-7 relative.
      const double want = 2.0 * expected / 65.0;
      EXPECT_NEAR(h[i * dim + j], want, 1e-6 * (1.0 + std::fabs(want)));
    }
  }
}

TEST(GptqTest, RefusesMismatchedHessian) {
  Tensor weight = Tensor::Zeros(DType::kF32, {4, 8});
  const auto result =
      QuantizeGptq(weight, std::vector<double>(7 * 7, 1.0), GridSpec{}, GptqOptions{});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("Hessian"), std::string::npos);
}

}  // namespace
}  // namespace quench
