// Quantized weights on a GPU stream (device pointers): decoding codes to fp32 through the tables
// of core/quant/affine_decode.h — bit for bit the host's Dequantize — and packing low-bit codes
// into the little-endian 32-bit bitstreams of the GPTQ / compressed-tensors layouts (the host's
// PackBits, core/export/bit_packing.h). Compiled by nvcc and hipcc alike.
#pragma once

#include <cstdint>

#include "kernels/cuda/gpu_runtime.h"

namespace quench::kernels::gpu {

// out[r, c] = (levels[codes[r, c]] − zeros[r·G + g]) × scales[r·G + g], g = g_idx[c].
void DequantizeAffine(gpuStream_t stream, const uint8_t* codes, const float* levels,
                      const float* scales, const float* zeros, const int32_t* g_idx, int64_t rows,
                      int64_t cols, int64_t num_groups, float* out);

// Each of `streams` rows of `count` codes into words_per_stream = ceil(count·bits / 32) words:
// value i at bits [i·bits, i·bits + bits) (bits 1..8).
void PackBits(gpuStream_t stream, const uint8_t* codes, int64_t streams, int64_t count, int bits,
              int32_t* words);

}  // namespace quench::kernels::gpu
