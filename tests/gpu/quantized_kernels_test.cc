// The GPU's quantized-weight kernels against the host (label `gpu`): dequantize bit for bit
// equal to QuantizedTensor::Dequantize, packing word for word equal to PackBits, for 2, 3, 4
// and 8 bits and lengths that are not whole words. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <random>

#include "core/export/bit_packing.h"
#include "core/quant/affine_decode.h"
#include "kernels/cuda/cuda_devices.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/quantized_kernels.h"

namespace quench {
namespace {

using kernels::gpu::DeviceBuffer;

class QuantizedKernelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (kernels::cuda::DeviceCount() == 0) {
      GTEST_SKIP() << "no CUDA device here: the gpu tests run where one is lent";
    }
  }
};

TEST_F(QuantizedKernelsTest, DequantizeEqualsTheHostBitForBit) {
  const int64_t rows = 64, cols = 256;
  std::mt19937 random(6);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Tensor weight = Tensor::Zeros(DType::kF32, {rows, cols});
  for (int64_t i = 0; i < weight.num_elements(); ++i)
    weight.mutable_data<float>()[i] = normal(random);
  for (const bool symmetric : {true, false}) {
    GridSpec grid;
    grid.bits = 4;
    grid.symmetric = symmetric;
    grid.group_size = 32;
    auto quantized = QuantizeRtn(weight, grid);
    ASSERT_TRUE(quantized.ok());
    auto decode = MakeAffineDecode(*quantized);
    ASSERT_TRUE(decode.ok());
    DeviceBuffer<uint8_t> codes(quantized->codes);
    DeviceBuffer<float> levels(decode->levels), scales(decode->scales), zeros(decode->zeros),
        out(rows * cols);
    DeviceBuffer<int32_t> g_idx(quantized->g_idx);
    kernels::gpu::DequantizeAffine(nullptr, codes.data(), levels.data(), scales.data(),
                                   zeros.data(), g_idx.data(), rows, cols, quantized->num_groups,
                                   out.data());
    QUENCH_GPU_CHECK(gpuStreamSynchronize(nullptr));
    const Tensor expected = quantized->Dequantize();
    EXPECT_EQ(out.Download(),
              std::vector<float>(expected.data<float>(), expected.data<float>() + rows * cols))
        << (symmetric ? "sym" : "asym");
  }
}

TEST_F(QuantizedKernelsTest, PackingEqualsTheHostWordForWord) {
  std::mt19937 random(7);
  for (const int bits : {2, 3, 4, 8}) {
    for (const int64_t count : {int64_t{32}, int64_t{100}, int64_t{4096}}) {
      const int64_t streams = 5;
      std::vector<uint8_t> codes(streams * count);
      for (auto& code : codes) code = static_cast<uint8_t>(random() & ((1u << bits) - 1));
      const int64_t words_per_stream = PackedWords(count, bits);
      std::vector<int32_t> expected(streams * words_per_stream);
      for (int64_t s = 0; s < streams; ++s) {
        PackBits(std::span(codes).subspan(s * count, count), bits,
                 std::span(expected).subspan(s * words_per_stream, words_per_stream));
      }
      DeviceBuffer<uint8_t> device_codes(codes);
      DeviceBuffer<int32_t> words(expected.size());
      kernels::gpu::PackBits(nullptr, device_codes.data(), streams, count, bits, words.data());
      QUENCH_GPU_CHECK(gpuStreamSynchronize(nullptr));
      EXPECT_EQ(words.Download(), expected) << bits << " bits, " << count << " values";
    }
  }
}

}  // namespace
}  // namespace quench
