#include "kernels/cpu/cpu_backend.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/util/thread_pool.h"

namespace quench::kernels {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Rows of a matrix product computed per task. Fixed, so that Eigen sees the same sub-problems
// whatever the thread count.
constexpr int64_t kLinearRowsPerTask = 32;

float Activate(float x, ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kSilu:
      return x / (1.0f + std::exp(-x));
    case ActivationKind::kRelu:
      return x > 0.0f ? x : 0.0f;
    case ActivationKind::kGelu:
      return 0.5f * x * (1.0f + std::erf(x * 0.70710678118654752f));
    case ActivationKind::kGeluTanh: {
      const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + std::tanh(inner));
    }
  }
  return x;
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(ThreadPool* pool) : pool_(pool != nullptr ? *pool : DefaultThreadPool()) {
    // Eigen derives its GEMM blocking from the host's caches; pin them so every host sums in the
    // same order (the determinism promise holds across machines, not only thread counts).
    Eigen::setCpuCacheSizes(32 * 1024, 1024 * 1024, 8 * 1024 * 1024);
  }

  std::string_view name() const override { return "cpu"; }

  void Linear(const float* x, int64_t rows, int64_t in, const float* w, const float* bias,
              int64_t out, float* y) override {
    const Eigen::Map<const RowMatrix> weight(w, out, in);
    pool_.ParallelFor(rows, kLinearRowsPerTask, [&](int64_t begin, int64_t end) {
      const Eigen::Map<const RowMatrix> input(x + begin * in, end - begin, in);
      Eigen::Map<RowMatrix> result(y + begin * out, end - begin, out);
      result.noalias() = input * weight.transpose();
      if (bias != nullptr) {
        const Eigen::Map<const Eigen::RowVectorXf> b(bias, out);
        result.rowwise() += b;
      }
    });
  }

  void RmsNorm(const float* x, const float* weight, int64_t rows, int64_t dim, float eps,
               float* y) override {
    pool_.ParallelFor(rows, RowsPerTask(dim), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* row = x + r * dim;
        float sum_squares = 0.0f;
        for (int64_t i = 0; i < dim; ++i) sum_squares += row[i] * row[i];
        const float inv_rms = 1.0f / std::sqrt(sum_squares / static_cast<float>(dim) + eps);
        float* dst = y + r * dim;
        for (int64_t i = 0; i < dim; ++i) dst[i] = row[i] * inv_rms * weight[i];
      }
    });
  }

  void LayerNorm(const float* x, const float* weight, const float* bias, int64_t rows, int64_t dim,
                 float eps, float* y) override {
    pool_.ParallelFor(rows, RowsPerTask(dim), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* row = x + r * dim;
        float sum = 0.0f;
        for (int64_t i = 0; i < dim; ++i) sum += row[i];
        const float mean = sum / static_cast<float>(dim);
        float sum_squares = 0.0f;
        for (int64_t i = 0; i < dim; ++i) sum_squares += (row[i] - mean) * (row[i] - mean);
        const float inv_std = 1.0f / std::sqrt(sum_squares / static_cast<float>(dim) + eps);
        float* dst = y + r * dim;
        for (int64_t i = 0; i < dim; ++i) {
          dst[i] = (row[i] - mean) * inv_std * weight[i] + (bias != nullptr ? bias[i] : 0.0f);
        }
      }
    });
  }

  void RotaryEmbedding(float* x, int64_t rows, int64_t heads, int64_t head_dim,
                       const int64_t* positions, const float* inv_freq) override {
    const int64_t half = head_dim / 2;
    pool_.ParallelFor(rows, RowsPerTask(heads * head_dim), [&](int64_t begin, int64_t end) {
      std::vector<float> cos_table(half), sin_table(half);
      for (int64_t r = begin; r < end; ++r) {
        for (int64_t i = 0; i < half; ++i) {
          // In double: at position 4096 a float angle is off by ~2e-4 rad.
          const double angle = static_cast<double>(positions[r]) * inv_freq[i];
          cos_table[i] = static_cast<float>(std::cos(angle));
          sin_table[i] = static_cast<float>(std::sin(angle));
        }
        for (int64_t h = 0; h < heads; ++h) {
          float* head = x + r * heads * head_dim + h * head_dim;
          for (int64_t i = 0; i < half; ++i) {
            const float a = head[i];
            const float b = head[i + half];
            head[i] = a * cos_table[i] - b * sin_table[i];
            head[i + half] = b * cos_table[i] + a * sin_table[i];
          }
        }
      }
    });
  }

  void CausalAttention(const float* q, const float* k, const float* v, const int64_t* seq_offsets,
                       int64_t num_seqs, const AttentionShape& shape, float* out) override {
    using Strided = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
    using StridedOut = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;
    const int64_t heads = shape.num_heads;
    const int64_t group = shape.num_heads / shape.num_kv_heads;
    const int64_t d = shape.head_dim;
    const int64_t q_stride = heads * d;
    const int64_t kv_stride = shape.num_kv_heads * d;
    // One task per (sequence, head): each output element is computed by exactly one task, with
    // matrix products and a vectorised softmax over the task's whole score matrix.
    pool_.ParallelFor(num_seqs * heads, 1, [&](int64_t begin, int64_t end) {
      RowMatrix scores;
      for (int64_t task = begin; task < end; ++task) {
        const int64_t s = task / heads;
        const int64_t h = task % heads;
        const int64_t kv_h = h / group;
        const int64_t first = seq_offsets[s];
        const int64_t length = seq_offsets[s + 1] - first;
        if (length == 0) continue;
        const Strided queries(q + first * q_stride + h * d, length, d,
                              Eigen::OuterStride<>(q_stride));
        const Strided keys(k + first * kv_stride + kv_h * d, length, d,
                           Eigen::OuterStride<>(kv_stride));
        const Strided values(v + first * kv_stride + kv_h * d, length, d,
                             Eigen::OuterStride<>(kv_stride));
        scores.noalias() = queries * keys.transpose();
        for (int64_t i = 0; i < length; ++i) {
          // Causal (and sliding-window) mask, then a numerically stable softmax of the row.
          const int64_t j_begin =
              shape.sliding_window > 0 ? std::max<int64_t>(0, i - shape.sliding_window + 1) : 0;
          auto row = scores.row(i);
          row.head(j_begin).setZero();
          row.tail(length - i - 1).setZero();
          auto visible = row.segment(j_begin, i - j_begin + 1);
          visible *= shape.scale;
          const float max_score = visible.maxCoeff();
          visible = (visible.array() - max_score).exp();
          visible /= visible.sum();
        }
        StridedOut result(out + first * q_stride + h * d, length, d,
                          Eigen::OuterStride<>(q_stride));
        result.noalias() = scores * values;
      }
    });
  }

  void GatedActivation(const float* gate, const float* up, int64_t count, ActivationKind kind,
                       float* out) override {
    pool_.ParallelFor(count, kElementsPerTask, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) out[i] = Activate(gate[i], kind) * up[i];
    });
  }

  void Activation(float* x, int64_t count, ActivationKind kind) override {
    pool_.ParallelFor(count, kElementsPerTask, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) x[i] = Activate(x[i], kind);
    });
  }

  void Add(float* x, const float* y, int64_t count) override {
    pool_.ParallelFor(count, kElementsPerTask, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) x[i] += y[i];
    });
  }

 private:
  static constexpr int64_t kElementsPerTask = 1 << 16;
  static int64_t RowsPerTask(int64_t row_elements) {
    return std::max<int64_t>(1, kElementsPerTask / std::max<int64_t>(1, row_elements));
  }

  ThreadPool& pool_;
};

}  // namespace

std::unique_ptr<Backend> MakeCpuBackend(ThreadPool* pool) {
  return std::make_unique<CpuBackend>(pool);
}

}  // namespace quench::kernels
