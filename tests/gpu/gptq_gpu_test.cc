// GPTQ with its lazy updates on the GPU against GPTQ on the CPU, on a fixed correlated input
// (label `gpu`). Both compute in double; DGEMM sums in another order, so a code may flip where a
// value sits on a rounding boundary: at most 1 code in 1000 may differ, and the loss agrees to
// 1e-6. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/quant/gptq.h"
#include "core/quant/hessian.h"
#include "kernels/cuda/cuda_devices.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/gptq_gpu_updater.h"
#include "kernels/cuda/gpu_hessian.h"

namespace quench {
namespace {

struct Problem {
  Tensor weight;
  std::vector<double> hessian;
};

Problem MakeProblem(int64_t rows, int64_t cols) {
  std::mt19937 random(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Problem problem{Tensor::Zeros(DType::kF32, {rows, cols}), {}};
  for (int64_t i = 0; i < problem.weight.num_elements(); ++i) {
    problem.weight.mutable_data<float>()[i] = 0.02f * normal(random);
  }
  Tensor x = Tensor::Zeros(DType::kF32, {2 * cols, cols});
  for (int64_t t = 0; t < 2 * cols; ++t) {
    const float shared = normal(random);
    for (int64_t c = 0; c < cols; ++c) {
      x.mutable_data<float>()[t * cols + c] =
          shared + normal(random) * (1.0f + (c % 7 == 0) * 9.0f);
    }
  }
  HessianAccumulator accumulator(cols);
  accumulator.Accumulate(x);
  problem.hessian = accumulator.Finalize();
  return problem;
}

TEST(GptqGpuTest, GpuUpdatesGiveTheCpuCodesWithinTheStatedBound) {
  if (kernels::cuda::DeviceCount() == 0) {
    GTEST_SKIP() << "no CUDA device here: the gpu tests run where one is lent";
  }
  const Problem problem = MakeProblem(512, 1024);
  for (const bool act_order : {false, true}) {
    GridSpec grid;
    grid.group_size = 128;
    GptqOptions options;
    options.act_order = act_order;
    auto cpu = QuantizeGptq(problem.weight, problem.hessian, grid, options);
    auto updater = kernels::MakeGptqGpuUpdater(0);
    ASSERT_NE(updater, nullptr);
    auto gpu = QuantizeGptq(problem.weight, problem.hessian, grid, options, nullptr, updater.get());
    ASSERT_TRUE(cpu.ok() && gpu.ok()) << cpu.status() << gpu.status();
    const auto& a = cpu->quantized.codes;
    const auto& b = gpu->quantized.codes;
    ASSERT_EQ(a.size(), b.size());
    size_t differ = 0;
    for (size_t i = 0; i < a.size(); ++i) differ += a[i] != b[i];
    EXPECT_LE(differ, a.size() / 1000) << "act_order " << act_order;
    EXPECT_NEAR(gpu->loss, cpu->loss, 1e-6 * cpu->loss) << "act_order " << act_order;
    std::cout << "act_order " << act_order << ": " << differ << " of " << a.size()
              << " codes differ from the CPU's\n";
  }
}

// Σxᵀx on the GPU against the CPU accumulator, over several calls and a ragged last chunk:
// fp32 chunk products summed into double on both, so they agree to fp32 rounding (1e-6
// relative to the largest sum).
TEST(GpuHessianTest, SumsMatchTheCpuAccumulator) {
  if (kernels::cuda::DeviceCount() == 0) {
    GTEST_SKIP() << "no CUDA device here: the gpu tests run where one is lent";
  }
  const int64_t dim = 300;
  std::mt19937 random(8);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  HessianAccumulator cpu(dim);
  auto gpu = kernels::GpuHessianAccumulator::Create(dim, 0);
  ASSERT_NE(gpu, nullptr);
  for (const int64_t tokens : {int64_t{700}, int64_t{256}, int64_t{1}}) {
    Tensor x = Tensor::Zeros(DType::kF32, {tokens, dim});
    for (int64_t i = 0; i < x.num_elements(); ++i) x.mutable_data<float>()[i] = normal(random);
    cpu.Accumulate(x);
    kernels::gpu::DeviceBuffer<float> device_x(
        std::vector<float>(x.data<float>(), x.data<float>() + x.num_elements()));
    gpu->Accumulate(device_x.data(), tokens);
  }
  EXPECT_EQ(gpu->tokens(), cpu.tokens());
  const std::vector<double> sums = gpu->Sums();
  double worst = 0.0, largest = 0.0;
  for (size_t i = 0; i < sums.size(); ++i) {
    worst = std::max(worst, std::abs(sums[i] - cpu.sums()[i]));
    largest = std::max(largest, std::abs(cpu.sums()[i]));
  }
  EXPECT_LT(worst / largest, 1e-6);
}

}  // namespace
}  // namespace quench
