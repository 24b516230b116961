#include "tests/core/reference_forward.h"

#include <cmath>
#include <numbers>

#include "core/tensor/tensor.h"

namespace quench::testing {
namespace {

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

std::vector<double> Read(const Checkpoint& checkpoint, const std::string& name) {
  const Tensor tensor = checkpoint.Get(name).value().ToFloat32();
  return {tensor.data<float>(), tensor.data<float>() + tensor.num_elements()};
}

// x[T][in] · W[out][in]ᵀ + b
Matrix Linear(const Matrix& x, const std::vector<double>& w, const std::vector<double>* b,
              size_t out) {
  const size_t in = x[0].size();
  Matrix y(x.size(), std::vector<double>(out));
  for (size_t t = 0; t < x.size(); ++t) {
    for (size_t o = 0; o < out; ++o) {
      double sum = b ? (*b)[o] : 0.0;
      for (size_t i = 0; i < in; ++i) sum += x[t][i] * w[o * in + i];
      y[t][o] = sum;
    }
  }
  return y;
}

Matrix Normalize(const ModelSpec& spec, const Matrix& x, const std::vector<double>& weight,
                 const std::vector<double>* bias) {
  Matrix y = x;
  for (auto& row : y) {
    const double n = static_cast<double>(row.size());
    double mean = 0.0;
    if (spec.norm == NormKind::kLayerNorm) {
      for (double v : row) mean += v / n;
    }
    double variance = 0.0;
    for (double v : row) variance += (v - mean) * (v - mean) / n;
    for (size_t i = 0; i < row.size(); ++i) {
      row[i] = (row[i] - mean) / std::sqrt(variance + spec.norm_eps) * weight[i] +
               (bias ? (*bias)[i] : 0.0);
    }
  }
  return y;
}

double Act(const ModelSpec& spec, double x) {
  switch (spec.activation) {
    case Activation::kSilu:
      return x / (1.0 + std::exp(-x));
    case Activation::kRelu:
      return std::max(0.0, x);
    case Activation::kGelu:
      return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case Activation::kGeluTanh:
      return 0.5 * x *
             (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
  }
  return x;
}

// The rotary frequency of pair i, written out from the Llama 3.1 recipe.
double Frequency(const ModelSpec& spec, size_t i) {
  const double base = std::pow(spec.rope_theta, -2.0 * i / spec.head_dim);
  const auto& s = spec.rope_scaling;
  if (s.kind == RopeScalingKind::kLinear) return base / s.factor;
  if (s.kind != RopeScalingKind::kLlama3) return base;
  const double wavelength = 2 * std::numbers::pi / base;
  const double low = s.original_max_position_embeddings / s.low_freq_factor;
  const double high = s.original_max_position_embeddings / s.high_freq_factor;
  if (wavelength < high) return base;
  if (wavelength > low) return base / s.factor;
  const double smooth = (s.original_max_position_embeddings / wavelength - s.low_freq_factor) /
                        (s.high_freq_factor - s.low_freq_factor);
  return (1 - smooth) * base / s.factor + smooth * base;
}

void Rotate(const ModelSpec& spec, Matrix& x, size_t heads) {
  const size_t d = spec.head_dim;
  for (size_t t = 0; t < x.size(); ++t) {
    for (size_t h = 0; h < heads; ++h) {
      for (size_t i = 0; i < d / 2; ++i) {
        const double angle = t * Frequency(spec, i);
        double& a = x[t][h * d + i];
        double& b = x[t][h * d + i + d / 2];
        const double new_a = a * std::cos(angle) - b * std::sin(angle);
        const double new_b = b * std::cos(angle) + a * std::sin(angle);
        a = new_a;
        b = new_b;
      }
    }
  }
}

Matrix Attention(const ModelSpec& spec, const Checkpoint& ckpt, int64_t layer, const Matrix& x) {
  auto linear = [&](LinearRole role) {
    const auto w = Read(ckpt, spec.LinearName(layer, role));
    std::vector<double> b;
    if (spec.LinearHasBias(role)) b = Read(ckpt, spec.LinearName(layer, role, "bias"));
    return Linear(x, w, spec.LinearHasBias(role) ? &b : nullptr, spec.LinearShape(role).first);
  };
  Matrix q = linear(LinearRole::kQ), k = linear(LinearRole::kK), v = linear(LinearRole::kV);
  if (spec.positions == PositionKind::kRope) {
    Rotate(spec, q, spec.num_heads);
    Rotate(spec, k, spec.num_kv_heads);
  }
  const size_t d = spec.head_dim;
  const size_t group = spec.num_heads / spec.num_kv_heads;
  Matrix context(x.size(), std::vector<double>(spec.q_out()));
  for (size_t h = 0; h < static_cast<size_t>(spec.num_heads); ++h) {
    const size_t kv = h / group;
    for (size_t i = 0; i < x.size(); ++i) {
      std::vector<double> weights(i + 1, 0.0);
      double total = 0.0;
      for (size_t j = 0; j <= i; ++j) {
        if (spec.sliding_window && i - j >= static_cast<size_t>(*spec.sliding_window)) continue;
        double dot = 0.0;
        for (size_t c = 0; c < d; ++c) dot += q[i][h * d + c] * k[j][kv * d + c];
        weights[j] = std::exp(dot / std::sqrt(static_cast<double>(d)));
        total += weights[j];
      }
      for (size_t j = 0; j <= i; ++j) {
        for (size_t c = 0; c < d; ++c)
          context[i][h * d + c] += weights[j] / total * v[j][kv * d + c];
      }
    }
  }
  const auto wo = Read(ckpt, spec.LinearName(layer, LinearRole::kO));
  std::vector<double> bo;
  if (spec.o_bias) bo = Read(ckpt, spec.LinearName(layer, LinearRole::kO, "bias"));
  return Linear(context, wo, spec.o_bias ? &bo : nullptr, spec.hidden_size);
}

Matrix Mlp(const ModelSpec& spec, const Checkpoint& ckpt, int64_t layer, const Matrix& x) {
  auto linear = [&](LinearRole role, const Matrix& input) {
    const auto w = Read(ckpt, spec.LinearName(layer, role));
    std::vector<double> b;
    if (spec.mlp_bias) b = Read(ckpt, spec.LinearName(layer, role, "bias"));
    return Linear(input, w, spec.mlp_bias ? &b : nullptr, spec.LinearShape(role).first);
  };
  Matrix up = linear(LinearRole::kUp, x);
  Matrix gate;
  if (spec.gated_mlp) gate = linear(LinearRole::kGate, x);
  for (size_t t = 0; t < up.size(); ++t) {
    for (size_t i = 0; i < up[t].size(); ++i) {
      up[t][i] = spec.gated_mlp ? Act(spec, gate[t][i]) * up[t][i] : Act(spec, up[t][i]);
    }
  }
  return linear(LinearRole::kDown, up);
}

Matrix Norm(const ModelSpec& spec, const Checkpoint& ckpt, const Matrix& x,
            const std::string& weight_name, const std::string& bias_name) {
  const auto w = Read(ckpt, weight_name);
  std::vector<double> b;
  if (spec.norm_bias) b = Read(ckpt, bias_name);
  return Normalize(spec, x, w, spec.norm_bias ? &b : nullptr);
}

void AddInPlace(Matrix& x, const Matrix& y) {
  for (size_t t = 0; t < x.size(); ++t) {
    for (size_t i = 0; i < x[t].size(); ++i) x[t][i] += y[t][i];
  }
}

}  // namespace

std::vector<std::vector<double>> ReferenceLogits(const ModelSpec& spec, const Checkpoint& ckpt,
                                                 const std::vector<TokenId>& tokens) {
  const size_t hidden = spec.hidden_size;
  const auto embedding = Read(ckpt, spec.EmbeddingName());
  Matrix x(tokens.size(), std::vector<double>(hidden));
  for (size_t t = 0; t < tokens.size(); ++t) {
    for (size_t i = 0; i < hidden; ++i) x[t][i] = embedding[tokens[t] * hidden + i];
  }
  if (spec.positions == PositionKind::kLearned) {
    const auto positions = Read(ckpt, spec.PositionEmbeddingName());
    for (size_t t = 0; t < tokens.size(); ++t) {
      for (size_t i = 0; i < hidden; ++i) {
        x[t][i] += positions[(t + spec.learned_position_offset) * hidden + i];
      }
    }
  }
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    const auto attn_w = spec.AttentionNormName(layer),
               attn_b = spec.AttentionNormName(layer, "bias");
    const auto mlp_w = spec.MlpNormName(layer), mlp_b = spec.MlpNormName(layer, "bias");
    if (spec.norm_before_sublayer) {
      AddInPlace(x, Attention(spec, ckpt, layer, Norm(spec, ckpt, x, attn_w, attn_b)));
      AddInPlace(x, Mlp(spec, ckpt, layer, Norm(spec, ckpt, x, mlp_w, mlp_b)));
    } else {
      AddInPlace(x, Attention(spec, ckpt, layer, x));
      x = Norm(spec, ckpt, x, attn_w, attn_b);
      AddInPlace(x, Mlp(spec, ckpt, layer, x));
      x = Norm(spec, ckpt, x, mlp_w, mlp_b);
    }
  }
  if (spec.norm_before_sublayer) {
    x = Norm(spec, ckpt, x, spec.FinalNormName(), spec.FinalNormName("bias"));
  }
  const std::string head =
      ckpt.Contains(spec.LmHeadName()) ? spec.LmHeadName() : spec.EmbeddingName();
  return Linear(x, Read(ckpt, head), nullptr, spec.vocab_size);
}

}  // namespace quench::testing
