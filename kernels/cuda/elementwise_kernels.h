// The forward pass's small kernels on a GPU stream (every pointer is device memory, every value
// fp32). Each output element is written by one thread with a fixed reduction order (tree
// reductions over a fixed block size, keys visited in order), so results do not vary from run to
// run. Compiled by nvcc and by hipcc alike (gpu_runtime.h).
#pragma once

#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cuda/gpu_runtime.h"

namespace quench::kernels::gpu {

void RmsNorm(gpuStream_t stream, const float* x, const float* weight, int64_t rows, int64_t dim,
             float eps, float* y);
void LayerNorm(gpuStream_t stream, const float* x, const float* weight, const float* bias,
               int64_t rows, int64_t dim, float eps, float* y);
void RotaryEmbedding(gpuStream_t stream, float* x, int64_t rows, int64_t heads, int64_t head_dim,
                     const int64_t* positions, const float* inv_freq);
void CausalAttention(gpuStream_t stream, const float* q, const float* k, const float* v,
                     const int64_t* seq_offsets, int64_t num_seqs, int64_t rows,
                     const AttentionShape& shape, float* out);
void GatedActivation(gpuStream_t stream, const float* gate, const float* up, int64_t count,
                     ActivationKind kind, float* out);
void Activation(gpuStream_t stream, float* x, int64_t count, ActivationKind kind);
void Add(gpuStream_t stream, float* x, const float* y, int64_t count);
// y[r, :] += bias for each of `rows` rows of width `cols`.
void AddBias(gpuStream_t stream, float* y, const float* bias, int64_t rows, int64_t cols);

// sums[i] += partial[i] (fp32 into fp64), for statistics accumulated over chunks.
void AccumulateToDouble(gpuStream_t stream, const float* partial, double* sums, int64_t count);

}  // namespace quench::kernels::gpu
