// A model's parameters as fp32 host tensors, checked against its ModelSpec. Linear weights are
// [out_features, in_features] as in the checkpoint. Quantization replaces linear weights here
// with their dequantized values to evaluate a quantized model.
//
// Blocks are either resident (`layers`) or read from the mapped checkpoint each time they are
// asked for (`load_layer`), so that a job or an evaluation holds one block at a time rather
// than the whole model: fp32 tensors are used in place, other dtypes are converted per call.
#pragma once

#include <array>
#include <functional>
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
  // Which block these are (set by ModelWeights::Layer): remote workers read the block's
  // unchanged tensors from the model themselves.
  int64_t index = -1;

  LinearWeights& linear(LinearRole role) { return linears[static_cast<size_t>(role)]; }
  const LinearWeights& linear(LinearRole role) const { return linears[static_cast<size_t>(role)]; }
};

struct ModelWeights {
  Tensor embedding;           // [vocab, hidden]
  Tensor position_embedding;  // learned positions only: [max_pos + offset, hidden]
  Tensor final_norm_weight;   // empty for post-norm OPT
  Tensor final_norm_bias;
  Tensor lm_head;                    // [vocab, hidden]; aliases `embedding` when tied
  std::vector<LayerWeights> layers;  // resident blocks; empty when they load on demand
  std::function<LayerWeights(int64_t)> load_layer;

  // Block `layer`'s weights: the resident ones, or freshly loaded (tensors share storage, so
  // a copy is cheap either way).
  LayerWeights Layer(int64_t layer) const;
};

enum class LayerResidency {
  kResident,  // every block converted once and kept
  kOnDemand,  // blocks read from the checkpoint when asked for; only the rest is kept
};

// Checks every parameter (name, shape, floating dtype) against the spec, then reads the
// embedding, positions, final norm and LM head, and the blocks as `residency` says. Fails,
// naming the tensor, when one is missing or its shape disagrees with config.json.
absl::StatusOr<ModelWeights> LoadModelWeights(const ModelSpec& spec, const Checkpoint& checkpoint,
                                              LayerResidency residency = LayerResidency::kResident);

// One block's weights, read and converted from the checkpoint.
absl::StatusOr<LayerWeights> LoadLayerWeights(const ModelSpec& spec, const Checkpoint& checkpoint,
                                              int64_t layer);

}  // namespace quench
