#include "kernels/cuda/quantized_kernels.h"

namespace quench::kernels::gpu {
namespace {

constexpr int kThreads = 256;

unsigned Blocks(int64_t count) { return static_cast<unsigned>((count + kThreads - 1) / kThreads); }

__global__ void DequantizeAffineKernel(const uint8_t* codes, const float* levels,
                                       const float* scales, const float* zeros,
                                       const int32_t* g_idx, int64_t rows, int64_t cols,
                                       int64_t num_groups, float* out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= rows * cols) return;
  const int64_t r = i / cols;
  const int64_t g = r * num_groups + g_idx[i % cols];
  // The host's order of operations exactly: subtract, then multiply (nothing to fuse).
  out[i] = (levels[codes[i]] - zeros[g]) * scales[g];
}

// One thread per output word: the values overlapping its 32 bits, shifted into place.
__global__ void PackBitsKernel(const uint8_t* codes, int64_t streams, int64_t count, int bits,
                               int64_t words_per_stream, int32_t* words) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= streams * words_per_stream) return;
  const int64_t stream = i / words_per_stream;
  const int64_t word = i % words_per_stream;
  const int64_t first_bit = word * 32;
  const uint32_t mask = (1u << bits) - 1u;
  uint64_t packed = 0;
  for (int64_t v = first_bit / bits; v < count && v * bits < first_bit + 32; ++v) {
    const uint64_t value = codes[stream * count + v] & mask;
    const int64_t shift = v * bits - first_bit;
    packed |= shift >= 0 ? value << shift : value >> -shift;
  }
  words[i] = static_cast<int32_t>(static_cast<uint32_t>(packed & 0xffffffffu));
}

}  // namespace

void DequantizeAffine(gpuStream_t stream, const uint8_t* codes, const float* levels,
                      const float* scales, const float* zeros, const int32_t* g_idx, int64_t rows,
                      int64_t cols, int64_t num_groups, float* out) {
  if (rows * cols == 0) return;
  DequantizeAffineKernel<<<Blocks(rows * cols), kThreads, 0, stream>>>(
      codes, levels, scales, zeros, g_idx, rows, cols, num_groups, out);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void PackBits(gpuStream_t stream, const uint8_t* codes, int64_t streams, int64_t count, int bits,
              int32_t* words) {
  const int64_t words_per_stream = (count * bits + 31) / 32;
  if (streams * words_per_stream == 0) return;
  PackBitsKernel<<<Blocks(streams * words_per_stream), kThreads, 0, stream>>>(
      codes, streams, count, bits, words_per_stream, words);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

}  // namespace quench::kernels::gpu
