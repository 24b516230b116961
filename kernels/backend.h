// The compute backend interface: the few operations a transformer block forward (and, later,
// GPTQ/AWQ statistics) need. kernels/cpu implements it now; kernels/cuda (built for ROCm too)
// implements the same interface on a GPU. Pointers refer to memory of the backend's device;
// every matrix is dense and row-major, every value fp32 with fp32 accumulation.
//
// Determinism: for a given backend kind, results never depend on the number of threads.
#pragma once

#include <cstdint>
#include <string_view>

namespace quench::kernels {

enum class ActivationKind { kSilu, kRelu, kGelu, kGeluTanh };

// Shapes of one grouped-query causal attention call over a batch of packed sequences.
struct AttentionShape {
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // num_heads is a multiple of it
  int64_t head_dim = 0;
  int64_t sliding_window = 0;  // 0: unlimited; else attend to the last `sliding_window` tokens
  float scale = 1.0f;          // usually 1/sqrt(head_dim)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;

  // y[rows, out] = x[rows, in] · w[out, in]ᵀ + bias[out] (bias may be null).
  virtual void Linear(const float* x, int64_t rows, int64_t in, const float* w, const float* bias,
                      int64_t out, float* y) = 0;

  // y[r, :] = x[r, :] / sqrt(mean(x[r, :]²) + eps) · weight.
  virtual void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
                       float* y) = 0;

  // y[r, :] = (x[r, :] - mean) / sqrt(var + eps) · weight + bias (bias may be null).
  virtual void LayerNorm(const float* x, const float* weight, const float* bias, int64_t rows,
                         int64_t dim, float eps, float* y) = 0;

  // Rotates x[rows, heads·head_dim] in place, Hugging Face "rotate half" layout: element i of a
  // head pairs with element i + head_dim/2. angle(r, i) = positions[r] · inv_freq[i].
  virtual void RotaryEmbedding(float* x, int64_t rows, int64_t heads, int64_t head_dim,
                               const int64_t* positions, const float* inv_freq) = 0;

  // Causal attention over packed sequences: sequence s owns rows
  // [seq_offsets[s], seq_offsets[s+1]) of q[rows, num_heads·head_dim],
  // k and v [rows, num_kv_heads·head_dim]; out has q's shape.
  virtual void CausalAttention(const float* q, const float* k, const float* v,
                               const int64_t* seq_offsets, int64_t num_seqs,
                               const AttentionShape& shape, float* out) = 0;

  // out[i] = act(gate[i]) · up[i]  (SwiGLU and friends).
  virtual void GatedActivation(const float* gate, const float* up, int64_t count,
                               ActivationKind kind, float* out) = 0;

  // x[i] = act(x[i]).
  virtual void Activation(float* x, int64_t count, ActivationKind kind) = 0;

  // x[i] += y[i].
  virtual void Add(float* x, const float* y, int64_t count) = 0;
};

}  // namespace quench::kernels
