#include "kernels/cuda/elementwise_kernels.h"

#include <cmath>

namespace quench::kernels::gpu {
namespace {

// Threads per block of the row kernels: fixed, so a row's reduction order is always the same.
constexpr int kRowThreads = 256;

// Sums `value` over the block (blockDim.x == kRowThreads) in a fixed tree order; every thread
// gets the total.
__device__ float BlockSum(float value, float* scratch) {
  scratch[threadIdx.x] = value;
  __syncthreads();
  for (int stride = kRowThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) scratch[threadIdx.x] += scratch[threadIdx.x + stride];
    __syncthreads();
  }
  const float total = scratch[0];
  __syncthreads();
  return total;
}

__device__ float BlockMax(float value, float* scratch) {
  scratch[threadIdx.x] = value;
  __syncthreads();
  for (int stride = kRowThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      scratch[threadIdx.x] = fmaxf(scratch[threadIdx.x], scratch[threadIdx.x + stride]);
    }
    __syncthreads();
  }
  const float total = scratch[0];
  __syncthreads();
  return total;
}

__global__ void RmsNormKernel(const float* x, const float* weight, int64_t dim, float eps,
                              float* y) {
  __shared__ float scratch[kRowThreads];
  const float* row = x + blockIdx.x * dim;
  float sum_squares = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += kRowThreads) sum_squares += row[i] * row[i];
  sum_squares = BlockSum(sum_squares, scratch);
  const float inv_rms = rsqrtf(sum_squares / static_cast<float>(dim) + eps);
  float* out = y + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += kRowThreads) out[i] = row[i] * inv_rms * weight[i];
}

__global__ void LayerNormKernel(const float* x, const float* weight, const float* bias, int64_t dim,
                                float eps, float* y) {
  __shared__ float scratch[kRowThreads];
  const float* row = x + blockIdx.x * dim;
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += kRowThreads) sum += row[i];
  const float mean = BlockSum(sum, scratch) / static_cast<float>(dim);
  float sum_squares = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += kRowThreads) {
    sum_squares += (row[i] - mean) * (row[i] - mean);
  }
  const float inv_std = rsqrtf(BlockSum(sum_squares, scratch) / static_cast<float>(dim) + eps);
  float* out = y + blockIdx.x * dim;
  for (int64_t i = threadIdx.x; i < dim; i += kRowThreads) {
    out[i] = (row[i] - mean) * inv_std * weight[i] + (bias != nullptr ? bias[i] : 0.0f);
  }
}

// One block per row; thread i of the block rotates pair i of every head.
__global__ void RotaryKernel(float* x, int64_t heads, int64_t head_dim, const int64_t* positions,
                             const float* inv_freq) {
  const int64_t half = head_dim / 2;
  const int64_t r = blockIdx.x;
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    // In double, as on the CPU: at position 4096 a float angle is off by ~2e-4 rad.
    const double angle = static_cast<double>(positions[r]) * static_cast<double>(inv_freq[i]);
    const float c = static_cast<float>(cos(angle));
    const float s = static_cast<float>(sin(angle));
    for (int64_t h = 0; h < heads; ++h) {
      float* head = x + (r * heads + h) * head_dim;
      const float a = head[i];
      const float b = head[i + half];
      head[i] = a * c - b * s;
      head[i + half] = b * c + a * s;
    }
  }
}

// Keys scored per pass of the attention kernel (shared memory: kKeysPerPass floats).
constexpr int kKeysPerPass = 1024;

// One block per (row, head): scores for the row's visible keys in passes of kKeysPerPass, an
// online softmax across passes, and thread d accumulating output dimension d over the keys in
// order. Deterministic: every sum has a fixed order.
__global__ void CausalAttentionKernel(const float* q, const float* k, const float* v,
                                      const int64_t* seq_offsets, int64_t num_seqs,
                                      int64_t num_heads, int64_t num_kv_heads, int64_t head_dim,
                                      int64_t sliding_window, float scale, float* out) {
  __shared__ float scores[kKeysPerPass];
  __shared__ float scratch[kRowThreads];
  extern __shared__ float query[];  // head_dim floats
  const int64_t r = blockIdx.x;
  const int64_t h = blockIdx.y;
  const int64_t kv_h = h / (num_heads / num_kv_heads);
  // The row's sequence: the last s with seq_offsets[s] <= r.
  int64_t lo = 0, hi = num_seqs - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (seq_offsets[mid] <= r)
      lo = mid;
    else
      hi = mid - 1;
  }
  const int64_t first = seq_offsets[lo];
  const int64_t j_begin =
      sliding_window > 0 && r - sliding_window + 1 > first ? r - sliding_window + 1 : first;
  const int64_t q_stride = num_heads * head_dim, kv_stride = num_kv_heads * head_dim;
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x)
    query[d] = q[r * q_stride + h * head_dim + d];
  __syncthreads();

  float running_max = -INFINITY, running_sum = 0.0f;
  // Output dimensions this thread owns: d = threadIdx.x + n·kRowThreads (head_dim ≤ 1024).
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t pass = j_begin; pass <= r; pass += kKeysPerPass) {
    const int64_t remaining = r + 1 - pass;
    const int64_t count = remaining < kKeysPerPass ? remaining : kKeysPerPass;
    float local_max = -INFINITY;
    for (int64_t j = threadIdx.x; j < count; j += kRowThreads) {
      const float* key = k + (pass + j) * kv_stride + kv_h * head_dim;
      float dot = 0.0f;
      for (int64_t d = 0; d < head_dim; ++d) dot += query[d] * key[d];
      scores[j] = dot * scale;
      local_max = fmaxf(local_max, scores[j]);
    }
    const float pass_max = BlockMax(local_max, scratch);
    const float new_max = fmaxf(running_max, pass_max);
    const float rescale = expf(running_max - new_max);  // 0 on the first pass
    float local_sum = 0.0f;
    for (int64_t j = threadIdx.x; j < count; j += kRowThreads) {
      scores[j] = expf(scores[j] - new_max);
      local_sum += scores[j];
    }
    running_sum = running_sum * rescale + BlockSum(local_sum, scratch);
    running_max = new_max;
    for (int n = 0; n < 4; ++n) {
      const int64_t d = threadIdx.x + n * kRowThreads;
      if (d >= head_dim) break;
      float sum = acc[n] * rescale;
      for (int64_t j = 0; j < count; ++j)
        sum += scores[j] * v[(pass + j) * kv_stride + kv_h * head_dim + d];
      acc[n] = sum;
    }
    __syncthreads();  // scores are overwritten by the next pass
  }
  for (int n = 0; n < 4; ++n) {
    const int64_t d = threadIdx.x + n * kRowThreads;
    if (d >= head_dim) break;
    out[r * q_stride + h * head_dim + d] = acc[n] / running_sum;
  }
}

__device__ float Activate(float x, ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kSilu:
      return x / (1.0f + expf(-x));
    case ActivationKind::kRelu:
      return x > 0.0f ? x : 0.0f;
    case ActivationKind::kGelu:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case ActivationKind::kGeluTanh: {
      const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + tanhf(inner));
    }
  }
  return x;
}

__global__ void GatedActivationKernel(const float* gate, const float* up, int64_t count,
                                      ActivationKind kind, float* out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) out[i] = Activate(gate[i], kind) * up[i];
}

__global__ void ActivationKernel(float* x, int64_t count, ActivationKind kind) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) x[i] = Activate(x[i], kind);
}

__global__ void AddKernel(float* x, const float* y, int64_t count) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) x[i] += y[i];
}

__global__ void AddBiasKernel(float* y, const float* bias, int64_t rows, int64_t cols) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < rows * cols) y[i] += bias[i % cols];
}

__global__ void AccumulateToDoubleKernel(const float* partial, double* sums, int64_t count) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < count) sums[i] += static_cast<double>(partial[i]);
}

constexpr int kElementThreads = 256;

unsigned ElementBlocks(int64_t count) {
  return static_cast<unsigned>((count + kElementThreads - 1) / kElementThreads);
}

}  // namespace

void RmsNorm(gpuStream_t stream, const float* x, const float* weight, int64_t rows, int64_t dim,
             float eps, float* y) {
  if (rows == 0) return;
  RmsNormKernel<<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(x, weight, dim, eps, y);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void LayerNorm(gpuStream_t stream, const float* x, const float* weight, const float* bias,
               int64_t rows, int64_t dim, float eps, float* y) {
  if (rows == 0) return;
  LayerNormKernel<<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(x, weight, bias, dim,
                                                                           eps, y);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void RotaryEmbedding(gpuStream_t stream, float* x, int64_t rows, int64_t heads, int64_t head_dim,
                     const int64_t* positions, const float* inv_freq) {
  if (rows == 0) return;
  RotaryKernel<<<static_cast<unsigned>(rows), 64, 0, stream>>>(x, heads, head_dim, positions,
                                                               inv_freq);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void CausalAttention(gpuStream_t stream, const float* q, const float* k, const float* v,
                     const int64_t* seq_offsets, int64_t num_seqs, int64_t rows,
                     const AttentionShape& shape, float* out) {
  if (rows == 0 || num_seqs == 0) return;
  if (shape.head_dim > 4 * kRowThreads) {
    std::fprintf(stderr, "quench: head_dim %lld exceeds the attention kernel's %d\n",
                 static_cast<long long>(shape.head_dim), 4 * kRowThreads);
    std::abort();
  }
  const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(shape.num_heads));
  const size_t query_bytes = static_cast<size_t>(shape.head_dim) * sizeof(float);
  CausalAttentionKernel<<<grid, kRowThreads, query_bytes, stream>>>(
      q, k, v, seq_offsets, num_seqs, shape.num_heads, shape.num_kv_heads, shape.head_dim,
      shape.sliding_window, shape.scale, out);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void GatedActivation(gpuStream_t stream, const float* gate, const float* up, int64_t count,
                     ActivationKind kind, float* out) {
  if (count == 0) return;
  GatedActivationKernel<<<ElementBlocks(count), kElementThreads, 0, stream>>>(gate, up, count, kind,
                                                                              out);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void Activation(gpuStream_t stream, float* x, int64_t count, ActivationKind kind) {
  if (count == 0) return;
  ActivationKernel<<<ElementBlocks(count), kElementThreads, 0, stream>>>(x, count, kind);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void Add(gpuStream_t stream, float* x, const float* y, int64_t count) {
  if (count == 0) return;
  AddKernel<<<ElementBlocks(count), kElementThreads, 0, stream>>>(x, y, count);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void AddBias(gpuStream_t stream, float* y, const float* bias, int64_t rows, int64_t cols) {
  if (rows * cols == 0) return;
  AddBiasKernel<<<ElementBlocks(rows * cols), kElementThreads, 0, stream>>>(y, bias, rows, cols);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

void AccumulateToDouble(gpuStream_t stream, const float* partial, double* sums, int64_t count) {
  if (count == 0) return;
  AccumulateToDoubleKernel<<<ElementBlocks(count), kElementThreads, 0, stream>>>(partial, sums,
                                                                                 count);
  QUENCH_GPU_CHECK(gpuGetLastError());
}

}  // namespace quench::kernels::gpu
