// The checkpoint names of every parameter in ModelWeights, so writers can replace a checkpoint's
// tensors by the (quantized, AWQ-scaled) values a job produced.
#pragma once

#include <map>
#include <string>

#include "core/model/model_spec.h"
#include "core/model/model_weights.h"

namespace quench {

// name → fp32 tensor, for every non-empty parameter outside the blocks: embeddings, final
// norm, LM head (also when it is tied to the embedding).
std::map<std::string, Tensor> NamedGlobalTensors(const ModelSpec& spec,
                                                 const ModelWeights& weights);

// name → fp32 tensor, for every non-empty parameter of block `layer`.
std::map<std::string, Tensor> NamedLayerTensors(const ModelSpec& spec, int64_t layer,
                                                const LayerWeights& weights);

// Both of the above over the whole model (its resident or on-demand blocks).
std::map<std::string, Tensor> NamedModelTensors(const ModelSpec& spec, const ModelWeights& weights);

}  // namespace quench
