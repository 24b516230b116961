// A model's parameters as fp32 host tensors, checked against its ModelSpec. Linear weights are
// [out_features, in_features] as in the checkpoint. Quantization replaces linear weights here
// with their dequantized values to evaluate a quantized model.
#pragma once

#include <array>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"
#include "core/tensor/tensor.h"

namespace quench {

struct LinearWeights {
  Tensor weight;  // fp32 [out, in]
  Tensor bias;    // fp32 [out], empty when the layer has none
};

struct LayerWeights {
  Tensor attention_norm_weight;
  Tensor attention_norm_bias;  // LayerNorm only
  Tensor mlp_norm_weight;
  Tensor mlp_norm_bias;
  std::array<LinearWeights, std::size(kAllLinearRoles)> linears;

  LinearWeights& linear(LinearRole role) { return linears[static_cast<size_t>(role)]; }
  const LinearWeights& linear(LinearRole role) const { return linears[static_cast<size_t>(role)]; }
};

struct ModelWeights {
  Tensor embedding;           // [vocab, hidden]
  Tensor position_embedding;  // learned positions only: [max_pos + offset, hidden]
  Tensor final_norm_weight;   // empty for post-norm OPT
  Tensor final_norm_bias;
  Tensor lm_head;  // [vocab, hidden]; aliases `embedding` when tied
  std::vector<LayerWeights> layers;
};

// Reads and converts every parameter. Fails, naming the tensor, when one is missing or its
// shape disagrees with config.json.
absl::StatusOr<ModelWeights> LoadModelWeights(const ModelSpec& spec, const Checkpoint& checkpoint);

}  // namespace quench
