// GPU figures (prints; never fails): cuBLAS SGEMM TFLOP/s at 4096³, Hessian accumulation over
// 128×2048 tokens (dims 4096 and 14336) on the CPU and the GPU, and GPTQ solve times for
// 4096×4096, 14336×4096 and 4096×14336 linears (int4 g128 act-order) with the lazy updates on
// the CPU and on the GPU, the ratio measured in the same run. Says so and exits 0 without a GPU.
#include <chrono>
#include <cstdio>
#include <random>

#include "core/quant/gptq.h"
#include "core/quant/hessian.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_devices.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/gptq_gpu_updater.h"
#include "kernels/cuda/gpu_hessian.h"

namespace quench {
namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void GemmFigure() {
  const int64_t n = 4096;
  kernels::gpu::DeviceBuffer<float> x(std::vector<float>(n * n, 0.5f)),
      w(std::vector<float>(n * n, 0.25f)), y(n * n);
  auto backend = kernels::MakeCudaBackend(0);
  backend->Linear(x.data(), n, n, w.data(), nullptr, n, y.data());  // warm-up
  const int runs = 10;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < runs; ++i) backend->Linear(x.data(), n, n, w.data(), nullptr, n, y.data());
  const double seconds = Seconds(start) / runs;
  std::printf("SGEMM %lld^3 fp32 (pedantic, no TF32): %.3f ms, %.1f TFLOP/s\n",
              static_cast<long long>(n), 1e3 * seconds, 2.0 * n * n * n / seconds / 1e12);
}

// Σxᵀx over 128×2048 calibration tokens for a `dim`-wide input, CPU accumulator vs GPU.
void HessianFigure(int64_t dim) {
  const int64_t tokens = 8192;  // timed on a quarter of 128×2048 tokens, scaled up
  std::mt19937 random(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(tokens * dim));
  for (float& value : values) value = normal(random);
  Tensor x = Tensor::Zeros(DType::kF32, {tokens, dim});
  std::copy(values.begin(), values.end(), x.mutable_data<float>());
  auto start = std::chrono::steady_clock::now();
  HessianAccumulator cpu(dim);
  cpu.Accumulate(x);
  const double cpu_seconds = Seconds(start) * (128 * 2048 / tokens);
  kernels::gpu::DeviceBuffer<float> device_x(values);
  auto gpu = kernels::GpuHessianAccumulator::Create(dim, 0);
  gpu->Accumulate(device_x.data(), tokens);  // warm-up
  gpu->Reset();
  start = std::chrono::steady_clock::now();
  gpu->Accumulate(device_x.data(), tokens);
  const double gpu_seconds = Seconds(start) * (128 * 2048 / tokens);
  std::printf("Hessian dim %lld over 128x2048 tokens: CPU %.2f s, GPU %.3f s (%.0fx)\n",
              static_cast<long long>(dim), cpu_seconds, gpu_seconds, cpu_seconds / gpu_seconds);
}

void GptqFigure(int64_t rows, int64_t cols) {
  std::mt19937 random(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor weight = Tensor::Zeros(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < weight.num_elements(); ++i) {
    weight.mutable_data<float>()[i] = 0.02f * normal(random);
  }
  Tensor x = Tensor::Zeros(DType::kF32, {2 * cols, cols});
  for (int64_t i = 0; i < x.num_elements(); ++i) x.mutable_data<float>()[i] = normal(random);
  auto hessian_start = std::chrono::steady_clock::now();
  HessianAccumulator accumulator(cols);
  accumulator.Accumulate(x);
  const auto hessian = accumulator.Finalize();
  const double hessian_seconds = Seconds(hessian_start);
  GridSpec grid;
  grid.group_size = 128;
  GptqOptions options;
  options.act_order = true;
  auto start = std::chrono::steady_clock::now();
  auto cpu = QuantizeGptq(weight, hessian, grid, options);
  const double cpu_seconds = Seconds(start);
  auto updater = kernels::MakeGptqGpuUpdater(0);
  start = std::chrono::steady_clock::now();
  auto gpu = QuantizeGptq(weight, hessian, grid, options, nullptr, updater.get());
  const double gpu_seconds = Seconds(start);
  std::printf(
      "GPTQ %lldx%lld: Hessian (CPU, %lld tokens) %.2f s; solve CPU %.2f s, GPU updates "
      "%.2f s (%.1fx)%s\n",
      static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(2 * cols),
      hessian_seconds, cpu_seconds, gpu_seconds, cpu_seconds / gpu_seconds,
      cpu.ok() && gpu.ok() ? "" : " (a solve failed)");
}

}  // namespace
}  // namespace quench

int main() {
  if (quench::kernels::cuda::DeviceCount() == 0) {
    std::printf("gpu_bench: no CUDA device here; nothing to measure\n");
    return 0;
  }
  quench::GemmFigure();
  quench::HessianFigure(4096);
  quench::HessianFigure(14336);
  quench::GptqFigure(4096, 4096);
  quench::GptqFigure(14336, 4096);
  quench::GptqFigure(4096, 14336);
  return 0;
}
