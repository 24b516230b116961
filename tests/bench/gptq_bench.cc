// GPTQ solve time on the CPU for LLM-sized linears (4096×4096, 11008×4096), int4 g128
// act-order, from a random positive-definite Hessian. Prints figures; never fails on time.
#include <benchmark/benchmark.h>

#include <random>

#include "core/quant/gptq.h"
#include "core/quant/hessian.h"

namespace quench {
namespace {

void BM_GptqSolve(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  std::mt19937 random(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor weight = Tensor::Zeros(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < weight.num_elements(); ++i)
    weight.mutable_data<float>()[i] = 0.02f * normal(random);
  // 2·cols tokens of correlated inputs: a well-conditioned but non-diagonal Hessian.
  Tensor x = Tensor::Zeros(DType::kF32, {2 * cols, cols});
  for (int64_t t = 0; t < 2 * cols; ++t) {
    const float shared = normal(random);
    for (int64_t c = 0; c < cols; ++c)
      x.mutable_data<float>()[t * cols + c] = shared + normal(random);
  }
  HessianAccumulator accumulator(cols);
  accumulator.Accumulate(x);
  const auto hessian = accumulator.Finalize();
  GridSpec grid;
  grid.group_size = 128;
  GptqOptions options;
  options.act_order = true;
  for (auto _ : state) {
    auto result = QuantizeGptq(weight, hessian, grid, options);
    if (!result.ok()) state.SkipWithError(std::string(result.status().message()).c_str());
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_GptqSolve)
    ->Args({4096, 4096})
    ->Args({11008, 4096})
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace
}  // namespace quench

BENCHMARK_MAIN();
