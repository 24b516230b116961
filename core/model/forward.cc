#include "core/model/forward.h"

#include <cmath>
#include <cstring>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "core/util/check.h"

namespace quench {
namespace {

kernels::ActivationKind ToKernelActivation(Activation activation) {
  switch (activation) {
    case Activation::kSilu:
      return kernels::ActivationKind::kSilu;
    case Activation::kRelu:
      return kernels::ActivationKind::kRelu;
    case Activation::kGelu:
      return kernels::ActivationKind::kGelu;
    case Activation::kGeluTanh:
      return kernels::ActivationKind::kGeluTanh;
  }
  return kernels::ActivationKind::kSilu;
}

const float* DataOrNull(const Tensor& tensor) {
  return tensor.empty() ? nullptr : tensor.data<float>();
}

}  // namespace

std::vector<LinearRole> GroupRoles(const ModelSpec& spec, InputGroup group) {
  switch (group) {
    case InputGroup::kQkv:
      return {LinearRole::kQ, LinearRole::kK, LinearRole::kV};
    case InputGroup::kO:
      return {LinearRole::kO};
    case InputGroup::kGateUp:
      if (spec.gated_mlp) return {LinearRole::kGate, LinearRole::kUp};
      return {LinearRole::kUp};
    case InputGroup::kDown:
      return {LinearRole::kDown};
  }
  return {};
}

absl::string_view InputGroupName(InputGroup group) {
  switch (group) {
    case InputGroup::kQkv:
      return "qkv";
    case InputGroup::kO:
      return "o";
    case InputGroup::kGateUp:
      return "gate_up";
    case InputGroup::kDown:
      return "down";
  }
  return "?";
}

std::vector<float> RotaryInverseFrequencies(const ModelSpec& spec) {
  const int64_t half = spec.head_dim / 2;
  std::vector<float> inv_freq(half);
  const RopeScaling& scaling = spec.rope_scaling;
  for (int64_t i = 0; i < half; ++i) {
    double frequency = 1.0 / std::pow(spec.rope_theta, static_cast<double>(2 * i) /
                                                           static_cast<double>(spec.head_dim));
    if (scaling.kind == RopeScalingKind::kLinear) {
      frequency /= scaling.factor;
    } else if (scaling.kind == RopeScalingKind::kLlama3) {
      // Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, and the band
      // between is interpolated.
      const double old_context = static_cast<double>(scaling.original_max_position_embeddings);
      const double low_freq_wavelength = old_context / scaling.low_freq_factor;
      const double high_freq_wavelength = old_context / scaling.high_freq_factor;
      const double wavelength = 2.0 * std::numbers::pi / frequency;
      if (wavelength > low_freq_wavelength) {
        frequency /= scaling.factor;
      } else if (wavelength >= high_freq_wavelength) {
        const double smooth = (old_context / wavelength - scaling.low_freq_factor) /
                              (scaling.high_freq_factor - scaling.low_freq_factor);
        frequency = (1.0 - smooth) * frequency / scaling.factor + smooth * frequency;
      }
    }
    inv_freq[i] = static_cast<float>(frequency);
  }
  return inv_freq;
}

Transformer::Transformer(const ModelSpec& spec, const ModelWeights& weights,
                         kernels::Backend& backend)
    : spec_(spec), weights_(weights), backend_(backend) {
  if (spec.positions == PositionKind::kRope) inv_freq_ = RotaryInverseFrequencies(spec);
}

absl::Status ValidateTokenBatch(const ModelSpec& spec, const TokenBatch& batch) {
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    const int64_t length = batch.offsets[s + 1] - batch.offsets[s];
    if (length > spec.max_position_embeddings) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sequence ", s, " has ", length, " tokens, more than the model's context of ",
          spec.max_position_embeddings, " (max_position_embeddings); use a shorter --ctx"));
    }
  }
  for (size_t i = 0; i < batch.tokens.size(); ++i) {
    if (batch.tokens[i] < 0 || batch.tokens[i] >= spec.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", batch.tokens[i], " at position ",
                                                     i, " is outside the vocabulary [0, ",
                                                     spec.vocab_size, ")"));
    }
  }
  return absl::OkStatus();
}

Tensor Transformer::Embed(const TokenBatch& batch) const {
  const int64_t hidden = spec_.hidden_size;
  Tensor out = Tensor::Zeros(DType::kF32, {batch.num_tokens(), hidden});
  float* dst = out.mutable_data<float>();
  const float* table = weights_.embedding.data<float>();
  for (int64_t t = 0; t < batch.num_tokens(); ++t) {
    std::memcpy(dst + t * hidden, table + static_cast<int64_t>(batch.tokens[t]) * hidden,
                hidden * sizeof(float));
  }
  if (spec_.positions == PositionKind::kLearned) {
    const float* positions = weights_.position_embedding.data<float>();
    for (int64_t t = 0; t < batch.num_tokens(); ++t) {
      const float* row = positions + (batch.positions[t] + spec_.learned_position_offset) * hidden;
      for (int64_t i = 0; i < hidden; ++i) dst[t * hidden + i] += row[i];
    }
  }
  return out;
}

void Transformer::Norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) const {
  const int64_t rows = x.dim(0);
  const int64_t dim = x.dim(1);
  const float eps = static_cast<float>(spec_.norm_eps);
  if (spec_.norm == NormKind::kRmsNorm) {
    backend_.RmsNorm(x.data<float>(), weight.data<float>(), rows, dim, eps,
                     y.mutable_data<float>());
  } else {
    backend_.LayerNorm(x.data<float>(), weight.data<float>(), DataOrNull(bias), rows, dim, eps,
                       y.mutable_data<float>());
  }
}

void Transformer::ApplyLinear(const Tensor& x, const LinearWeights& linear, Tensor& y) const {
  backend_.Linear(x.data<float>(), x.dim(0), x.dim(1), linear.weight.data<float>(),
                  DataOrNull(linear.bias), linear.weight.dim(0), y.mutable_data<float>());
}

Tensor Transformer::LinearOutput(const Tensor& input, const LinearWeights& linear) const {
  Tensor out = Tensor::Zeros(DType::kF32, {input.dim(0), linear.weight.dim(0)});
  ApplyLinear(input, linear, out);
  return out;
}

Tensor Transformer::AttentionContext(const LayerWeights& lw, const TokenBatch& batch,
                                     const Tensor& normed) const {
  Tensor q = LinearOutput(normed, lw.linear(LinearRole::kQ));
  Tensor k = LinearOutput(normed, lw.linear(LinearRole::kK));
  Tensor v = LinearOutput(normed, lw.linear(LinearRole::kV));
  const int64_t rows = normed.dim(0);
  if (spec_.positions == PositionKind::kRope) {
    backend_.RotaryEmbedding(q.mutable_data<float>(), rows, spec_.num_heads, spec_.head_dim,
                             batch.positions.data(), inv_freq_.data());
    backend_.RotaryEmbedding(k.mutable_data<float>(), rows, spec_.num_kv_heads, spec_.head_dim,
                             batch.positions.data(), inv_freq_.data());
  }
  kernels::AttentionShape shape;
  shape.num_heads = spec_.num_heads;
  shape.num_kv_heads = spec_.num_kv_heads;
  shape.head_dim = spec_.head_dim;
  shape.sliding_window = spec_.sliding_window.value_or(0);
  shape.scale = 1.0f / std::sqrt(static_cast<float>(spec_.head_dim));
  Tensor context = Tensor::Zeros(DType::kF32, {rows, spec_.q_out()});
  backend_.CausalAttention(q.data<float>(), k.data<float>(), v.data<float>(), batch.offsets.data(),
                           batch.num_sequences(), shape, context.mutable_data<float>());
  return context;
}

Tensor Transformer::AttentionOutput(const LayerWeights& lw, const TokenBatch& batch,
                                    const Tensor& normed) const {
  return LinearOutput(AttentionContext(lw, batch, normed), lw.linear(LinearRole::kO));
}

Tensor Transformer::MlpHidden(const LayerWeights& lw, const Tensor& normed) const {
  const auto activation = ToKernelActivation(spec_.activation);
  Tensor up = LinearOutput(normed, lw.linear(LinearRole::kUp));
  if (spec_.gated_mlp) {
    const Tensor gate = LinearOutput(normed, lw.linear(LinearRole::kGate));
    backend_.GatedActivation(gate.data<float>(), up.data<float>(), up.num_elements(), activation,
                             up.mutable_data<float>());
  } else {
    backend_.Activation(up.mutable_data<float>(), up.num_elements(), activation);
  }
  return up;
}

Tensor Transformer::MlpOutput(const LayerWeights& lw, const Tensor& normed) const {
  return LinearOutput(MlpHidden(lw, normed), lw.linear(LinearRole::kDown));
}

void Transformer::RunBlock(int64_t layer, const TokenBatch& batch, Tensor& hidden) const {
  TraceBlock(weights_.Layer(layer), batch, hidden, nullptr);
}

void Transformer::TraceBlock(const LayerWeights& lw, const TokenBatch& batch, Tensor& hidden,
                             const GroupInputVisitor& visit) const {
  BlockCursor cursor(*this, batch, hidden, lw);
  while (!cursor.finished()) {
    if (visit && !visit(cursor.group(), cursor.input())) return;
    cursor.Step(lw);
  }
  std::memcpy(hidden.mutable_data<float>(), cursor.output().data<float>(), hidden.num_bytes());
}

BlockCursor::BlockCursor(const Transformer& model, const TokenBatch& batch,
                         const Tensor& block_input, const LayerWeights& weights)
    : model_(model), batch_(batch), block_input_(block_input) {
  if (model_.spec_.norm_before_sublayer) {
    input_ = Tensor::Zeros(DType::kF32, block_input.shape());
    model_.Norm(block_input, weights.attention_norm_weight, weights.attention_norm_bias, input_);
  } else {
    input_ = block_input;  // OPT post-norm: attention reads the block input itself
  }
}

void BlockCursor::Step(const LayerWeights& lw) {
  QUENCH_CHECK(!finished_);
  const ModelSpec& spec = model_.spec_;
  kernels::Backend& backend = model_.backend_;
  const int64_t count = block_input_.num_elements();
  switch (group_) {
    case InputGroup::kQkv:
      input_ = model_.AttentionContext(lw, batch_, input_);
      group_ = InputGroup::kO;
      return;
    case InputGroup::kO: {
      // x + attn(x), then the norm before the MLP (pre-norm) or after attention (post-norm).
      const Tensor attention = model_.LinearOutput(input_, lw.linear(LinearRole::kO));
      residual_ = Tensor::Zeros(DType::kF32, block_input_.shape());
      std::memcpy(residual_.mutable_data<float>(), block_input_.data<float>(),
                  block_input_.num_bytes());
      backend.Add(residual_.mutable_data<float>(), attention.data<float>(), count);
      input_ = Tensor::Zeros(DType::kF32, block_input_.shape());
      if (spec.norm_before_sublayer) {
        model_.Norm(residual_, lw.mlp_norm_weight, lw.mlp_norm_bias, input_);
      } else {
        model_.Norm(residual_, lw.attention_norm_weight, lw.attention_norm_bias, input_);
        residual_ = input_;  // post-norm: the MLP's residual is the normed stream
      }
      group_ = InputGroup::kGateUp;
      return;
    }
    case InputGroup::kGateUp:
      input_ = model_.MlpHidden(lw, input_);
      group_ = InputGroup::kDown;
      return;
    case InputGroup::kDown: {
      Tensor mlp = model_.LinearOutput(input_, lw.linear(LinearRole::kDown));
      if (spec.norm_before_sublayer) {
        backend.Add(residual_.mutable_data<float>(), mlp.data<float>(), count);
        output_ = residual_;
      } else {
        // post-norm: norm(normed + mlp(normed))
        backend.Add(mlp.mutable_data<float>(), residual_.data<float>(), count);
        output_ = Tensor::Zeros(DType::kF32, block_input_.shape());
        model_.Norm(mlp, lw.mlp_norm_weight, lw.mlp_norm_bias, output_);
      }
      finished_ = true;
      return;
    }
  }
}

Tensor Transformer::Logits(const Tensor& hidden, int64_t row_begin, int64_t row_end) const {
  const int64_t rows = row_end - row_begin;
  const int64_t dim = spec_.hidden_size;
  QUENCH_CHECK(row_begin >= 0 && row_end <= hidden.dim(0) && rows >= 0);
  const float* input = hidden.data<float>() + row_begin * dim;
  Tensor normed;
  if (!weights_.final_norm_weight.empty()) {
    normed = Tensor::Zeros(DType::kF32, {rows, dim});
    const float eps = static_cast<float>(spec_.norm_eps);
    if (spec_.norm == NormKind::kRmsNorm) {
      backend_.RmsNorm(input, weights_.final_norm_weight.data<float>(), rows, dim, eps,
                       normed.mutable_data<float>());
    } else {
      backend_.LayerNorm(input, weights_.final_norm_weight.data<float>(),
                         DataOrNull(weights_.final_norm_bias), rows, dim, eps,
                         normed.mutable_data<float>());
    }
    input = normed.data<float>();
  }
  Tensor logits = Tensor::Zeros(DType::kF32, {rows, spec_.vocab_size});
  backend_.Linear(input, rows, dim, weights_.lm_head.data<float>(), nullptr, spec_.vocab_size,
                  logits.mutable_data<float>());
  return logits;
}

absl::StatusOr<Tensor> Transformer::Forward(const TokenBatch& batch) const {
  if (auto status = Validate(batch); !status.ok()) return status;
  Tensor hidden = Embed(batch);
  for (int64_t layer = 0; layer < spec_.num_layers; ++layer) RunBlock(layer, batch, hidden);
  return Logits(hidden, 0, hidden.dim(0));
}

}  // namespace quench
