// The forward pass of a decoder-only transformer on a compute backend, exposed block by block
// because quantization runs the model one block at a time. All activations are fp32
// [tokens, features] with the batch's sequences packed along the rows.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/model/model_spec.h"
#include "core/model/model_weights.h"
#include "core/model/token_batch.h"
#include "core/tensor/tensor.h"
#include "kernels/backend.h"

namespace quench {

// The rotary inverse frequencies (head_dim/2 of them), rope_scaling applied.
std::vector<float> RotaryInverseFrequencies(const ModelSpec& spec);

class Transformer {
 public:
  // Both references must outlive the Transformer; weights may be changed between calls.
  Transformer(const ModelSpec& spec, const ModelWeights& weights, kernels::Backend& backend);

  // Checks token ids and sequence lengths against the model.
  absl::Status Validate(const TokenBatch& batch) const;

  // Token (and learned position) embeddings: [tokens, hidden].
  Tensor Embed(const TokenBatch& batch) const;

  // Runs block `layer` on `hidden` ([tokens, hidden]) in place.
  void RunBlock(int64_t layer, const TokenBatch& batch, Tensor& hidden) const;

  // Final norm and LM head for rows [row_begin, row_end) of `hidden`: [rows, vocab].
  Tensor Logits(const Tensor& hidden, int64_t row_begin, int64_t row_end) const;

  // Everything: [tokens, vocab] logits. Validates the batch first.
  absl::StatusOr<Tensor> Forward(const TokenBatch& batch) const;

  const ModelSpec& spec() const { return spec_; }

 private:
  void Norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor& y) const;
  void ApplyLinear(const Tensor& x, const LinearWeights& linear, Tensor& y) const;
  void Attention(const LayerWeights& lw, const TokenBatch& batch, const Tensor& normed,
                 Tensor& out) const;
  void Mlp(const LayerWeights& lw, const Tensor& normed, Tensor& out) const;

  const ModelSpec& spec_;
  const ModelWeights& weights_;
  kernels::Backend& backend_;
  std::vector<float> inv_freq_;
};

}  // namespace quench
