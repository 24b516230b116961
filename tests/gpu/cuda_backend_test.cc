// The CUDA backend against the CPU backend, kernel by kernel, on random inputs (label `gpu`).
// Tolerances, relative to the largest magnitude of the CPU result: 1e-5 for reductions over a
// row or a key range (different summation orders: a tree on the GPU, a loop or Eigen's blocking
// on the CPU), 1e-6 for elementwise kernels (expf/erff/tanhf differ by an ulp or two).
// Without a CUDA device every test skips, saying so.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>
#include <vector>

#include "core/io/checkpoint.h"
#include "core/model/forward.h"
#include "core/model/model_spec.h"
#include "core/model/model_weights.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_devices.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/host_staged_backend.h"
#include "tests/core/test_paths.h"

namespace quench::kernels {
namespace {

using gpu::DeviceBuffer;

std::vector<float> Random(size_t count, uint32_t seed, float scale = 1.0f) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> values(count);
  for (float& value : values) value = normal(random);
  return values;
}

// max |a − b| / max |b|.
double RelativeError(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0, largest = 1e-30;
  for (size_t i = 0; i < b.size(); ++i) {
    worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]));
    largest = std::max(largest, std::abs(static_cast<double>(b[i])));
  }
  return worst / largest;
}

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::DeviceCount() == 0) {
      GTEST_SKIP() << "no CUDA device here: the gpu tests run where one is lent";
    }
    gpu_ = MakeCudaBackend(0);
    ASSERT_NE(gpu_, nullptr);
    cpu_ = MakeCpuBackend();
  }
  std::unique_ptr<Backend> gpu_, cpu_;
};

TEST_F(CudaBackendTest, LinearWithBiasMatchesCpu) {
  for (const auto& [rows, in, out] :
       {std::tuple<int64_t, int64_t, int64_t>{1, 64, 32}, {37, 300, 129}, {512, 1024, 2048}}) {
    const auto x = Random(rows * in, 1), w = Random(out * in, 2, 0.05f), bias = Random(out, 3);
    std::vector<float> expected(rows * out);
    cpu_->Linear(x.data(), rows, in, w.data(), bias.data(), out, expected.data());
    DeviceBuffer<float> dx(x), dw(w), db(bias), dy(rows * out);
    gpu_->Linear(dx.data(), rows, in, dw.data(), db.data(), out, dy.data());
    EXPECT_LT(RelativeError(dy.Download(), expected), 1e-5) << rows << "x" << in << "x" << out;
  }
}

TEST_F(CudaBackendTest, NormsMatchCpu) {
  const int64_t rows = 33, dim = 1000;
  const auto x = Random(rows * dim, 4, 3.0f), weight = Random(dim, 5), bias = Random(dim, 6);
  std::vector<float> expected(rows * dim);
  DeviceBuffer<float> dx(x), dweight(weight), dbias(bias), dy(rows * dim);
  cpu_->RmsNorm(x.data(), weight.data(), rows, dim, 1e-5f, expected.data());
  gpu_->RmsNorm(dx.data(), dweight.data(), rows, dim, 1e-5f, dy.data());
  EXPECT_LT(RelativeError(dy.Download(), expected), 1e-5) << "RmsNorm";
  cpu_->LayerNorm(x.data(), weight.data(), bias.data(), rows, dim, 1e-5f, expected.data());
  gpu_->LayerNorm(dx.data(), dweight.data(), dbias.data(), rows, dim, 1e-5f, dy.data());
  EXPECT_LT(RelativeError(dy.Download(), expected), 1e-5) << "LayerNorm";
}

TEST_F(CudaBackendTest, RotaryEmbeddingMatchesCpu) {
  const int64_t rows = 20, heads = 4, head_dim = 64;
  auto x = Random(rows * heads * head_dim, 7);
  std::vector<int64_t> positions(rows);
  for (int64_t r = 0; r < rows; ++r) positions[r] = 4000 + 3 * r;  // large angles
  std::vector<float> inv_freq(head_dim / 2);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * i / head_dim));
  }
  DeviceBuffer<float> dx(x), dfreq(inv_freq);
  DeviceBuffer<int64_t> dpositions(positions);
  cpu_->RotaryEmbedding(x.data(), rows, heads, head_dim, positions.data(), inv_freq.data());
  gpu_->RotaryEmbedding(dx.data(), rows, heads, head_dim, dpositions.data(), dfreq.data());
  EXPECT_LT(RelativeError(dx.Download(), x), 1e-6);
}

TEST_F(CudaBackendTest, CausalAttentionMatchesCpuWithGroupsWindowsAndLongSequences) {
  // Three packed sequences, one longer than a pass of the kernel's keys (1024), one empty.
  const std::vector<int64_t> offsets = {0, 5, 5, 1300};
  for (const int64_t window : {int64_t{0}, int64_t{64}}) {
    AttentionShape shape;
    shape.num_heads = 8;
    shape.num_kv_heads = 2;
    shape.head_dim = 64;
    shape.sliding_window = window;
    shape.scale = 0.125f;
    const int64_t rows = offsets.back();
    const auto q = Random(rows * 8 * 64, 8), k = Random(rows * 2 * 64, 9),
               v = Random(rows * 2 * 64, 10);
    std::vector<float> expected(rows * 8 * 64);
    cpu_->CausalAttention(q.data(), k.data(), v.data(), offsets.data(), 3, shape, expected.data());
    DeviceBuffer<float> dq(q), dk(k), dv(v), dout(expected.size());
    DeviceBuffer<int64_t> doffsets(offsets);
    gpu_->CausalAttention(dq.data(), dk.data(), dv.data(), doffsets.data(), 3, shape, dout.data());
    EXPECT_LT(RelativeError(dout.Download(), expected), 1e-5) << "window " << window;
  }
}

TEST_F(CudaBackendTest, ActivationsAndAddMatchCpu) {
  const int64_t count = 100'003;
  const auto gate = Random(count, 11, 3.0f), up = Random(count, 12);
  DeviceBuffer<float> dgate(gate), dup(up), dout(count);
  for (const ActivationKind kind : {ActivationKind::kSilu, ActivationKind::kRelu,
                                    ActivationKind::kGelu, ActivationKind::kGeluTanh}) {
    std::vector<float> expected(count);
    cpu_->GatedActivation(gate.data(), up.data(), count, kind, expected.data());
    gpu_->GatedActivation(dgate.data(), dup.data(), count, kind, dout.data());
    EXPECT_LT(RelativeError(dout.Download(), expected), 1e-6) << static_cast<int>(kind);
    auto in_place = gate;
    cpu_->Activation(in_place.data(), count, kind);
    DeviceBuffer<float> dx(gate);
    gpu_->Activation(dx.data(), count, kind);
    EXPECT_LT(RelativeError(dx.Download(), in_place), 1e-6) << static_cast<int>(kind);
  }
  auto sum = gate;
  cpu_->Add(sum.data(), up.data(), count);
  DeviceBuffer<float> dsum(gate);
  gpu_->Add(dsum.data(), dup.data(), count);
  EXPECT_EQ(dsum.Download(), sum) << "a single fp32 add is exact on both";
}

TEST_F(CudaBackendTest, RepeatedCallsGiveTheSameBits) {
  const int64_t rows = 256, in = 512, out = 768;
  const auto x = Random(rows * in, 13), w = Random(out * in, 14, 0.05f);
  DeviceBuffer<float> dx(x), dw(w), first(rows * out), second(rows * out);
  gpu_->Linear(dx.data(), rows, in, dw.data(), nullptr, out, first.data());
  gpu_->Linear(dx.data(), rows, in, dw.data(), nullptr, out, second.data());
  EXPECT_EQ(first.Download(), second.Download());
}

// A whole stories260K forward through the host-staged backend (what a GPU worker's shard holder
// runs) against the CPU backend: logits within 1e-4 of the largest.
TEST_F(CudaBackendTest, HostStagedForwardOfStories260KMatchesCpu) {
  const auto dir = testing::SharedPath("models/stories260K");
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "missing fixture " << dir;
  auto spec = LoadModelSpec(dir);
  auto checkpoint = Checkpoint::Open(dir);
  ASSERT_TRUE(spec.ok() && checkpoint.ok());
  auto weights = LoadModelWeights(*spec, *checkpoint, LayerResidency::kResident);
  ASSERT_TRUE(weights.ok());
  auto staged = MakeHostStagedCudaBackend(0);
  ASSERT_NE(staged, nullptr);
  TokenBatch batch;
  batch.Add({1, 403, 407, 261, 378, 285, 405, 298, 313, 414});
  batch.Add({1, 320, 288, 268, 327});
  const Transformer on_cpu(*spec, *weights, *cpu_), on_gpu(*spec, *weights, *staged);
  auto expected = on_cpu.Forward(batch);
  auto got = on_gpu.Forward(batch);
  ASSERT_TRUE(expected.ok() && got.ok());
  const float* e = expected->data<float>();
  const float* g = got->data<float>();
  EXPECT_LT(RelativeError(std::vector<float>(g, g + got->num_elements()),
                          std::vector<float>(e, e + expected->num_elements())),
            1e-4);
}

}  // namespace
}  // namespace quench::kernels
