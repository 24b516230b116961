// The GptqUpdater contract, checked on the CPU with an updater written here that keeps its own
// copy of W (as a GPU does), applies each update with a plain triple loop and factors the
// Hessian with a textbook Cholesky: fetching the block's columns, the error stride, the narrow
// last block and the column-major L⁻¹ must all line up for GPTQ to give the default's codes (up
// to rounding-boundary flips from the different summation orders).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/quant/gptq.h"
#include "core/quant/hessian.h"

namespace quench {
namespace {

class NaiveCopyUpdater final : public GptqUpdater {
 public:
  absl::Status Begin(double* w, const double* u, int64_t rows, int64_t cols) override {
    w_.assign(w, w + rows * cols);
    u_.assign(u, u + cols * cols);
    rows_ = rows;
    cols_ = cols;
    return absl::OkStatus();
  }
  absl::Status FetchColumns(int64_t i1, int64_t i2, double* w) override {
    ++fetches;
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t c = i1; c < i2; ++c) w[r * cols_ + c] = w_[r * cols_ + c];
    }
    return absl::OkStatus();
  }
  absl::Status Update(int64_t i1, int64_t i2, const double* errors,
                      int64_t errors_stride) override {
    ++updates;
    for (int64_t r = 0; r < rows_; ++r) {
      for (int64_t c = i2; c < cols_; ++c) {
        double sum = 0.0;
        for (int64_t k = i1; k < i2; ++k)
          sum += errors[r * errors_stride + (k - i1)] * u_[k * cols_ + c];
        w_[r * cols_ + c] -= sum;
      }
    }
    return absl::OkStatus();
  }
  // Textbook Cholesky–Banachiewicz, then L⁻¹ by forward substitution, column-major out.
  absl::StatusOr<bool> CholeskyLowerInverse(const double* a, int64_t n,
                                            double* lower_inverse) override {
    ++factorizations;
    std::vector<double> l(n * n, 0.0);  // row-major
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        double sum = a[i * n + j];
        for (int64_t k = 0; k < j; ++k) sum -= l[i * n + k] * l[j * n + k];
        if (i == j) {
          if (sum <= 0.0) return false;
          l[i * n + i] = std::sqrt(sum);
        } else {
          l[i * n + j] = sum / l[j * n + j];
        }
      }
    }
    for (int64_t c = 0; c < n; ++c) {  // column c of L⁻¹: solve L x = e_c
      for (int64_t i = 0; i < n; ++i) {
        double sum = i == c ? 1.0 : 0.0;
        for (int64_t k = 0; k < i; ++k) sum -= l[i * n + k] * lower_inverse[c * n + k];
        lower_inverse[c * n + i] = sum / l[i * n + i];
      }
    }
    return true;
  }
  int fetches = 0, updates = 0, factorizations = 0;

 private:
  std::vector<double> w_, u_;
  int64_t rows_ = 0, cols_ = 0;
};

TEST(GptqUpdaterTest, AnUpdaterWithItsOwnCopyGivesTheDefaultsCodes) {
  const int64_t rows = 96, cols = 200;  // 200 = one block of 128 and a narrow one of 72
  std::mt19937 random(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor weight = Tensor::Zeros(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < weight.num_elements(); ++i) {
    weight.mutable_data<float>()[i] = 0.02f * normal(random);
  }
  Tensor x = Tensor::Zeros(DType::kF32, {3 * cols, cols});
  for (int64_t t = 0; t < 3 * cols; ++t) {
    const float shared = normal(random);
    for (int64_t c = 0; c < cols; ++c)
      x.mutable_data<float>()[t * cols + c] = shared + normal(random);
  }
  HessianAccumulator accumulator(cols);
  accumulator.Accumulate(x);
  const auto hessian = accumulator.Finalize();
  for (const bool act_order : {false, true}) {
    GridSpec grid;
    grid.group_size = 40;
    GptqOptions options;
    options.act_order = act_order;
    auto expected = QuantizeGptq(weight, hessian, grid, options);
    NaiveCopyUpdater updater;
    auto got = QuantizeGptq(weight, hessian, grid, options, nullptr, &updater);
    ASSERT_TRUE(expected.ok() && got.ok());
    EXPECT_GE(updater.fetches, 2);
    EXPECT_GE(updater.factorizations, 1) << "the updater factored the Hessian";
    EXPECT_EQ(updater.updates, updater.fetches - 1) << "no update after the last block";
    size_t differ = 0;
    for (size_t i = 0; i < expected->quantized.codes.size(); ++i) {
      differ += expected->quantized.codes[i] != got->quantized.codes[i];
    }
    EXPECT_LE(differ, expected->quantized.codes.size() / 1000) << "act_order " << act_order;
    EXPECT_NEAR(got->loss, expected->loss, 1e-6 * expected->loss);
    EXPECT_GT(expected->loss, 0.0);
  }
}

}  // namespace
}  // namespace quench
