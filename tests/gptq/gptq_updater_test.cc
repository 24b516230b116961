// The GptqUpdater contract, checked on the CPU with an updater written here that keeps its own
// copy of W (as a GPU does) and applies each update with a plain triple loop: fetching the block's
// columns, the error stride and the narrow last block must all line up for GPTQ to give the
// default's codes (up to rounding-boundary flips from the different summation order).
#include <gtest/gtest.h>

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
  int fetches = 0, updates = 0;

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
