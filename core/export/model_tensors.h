// The checkpoint names of every parameter in ModelWeights, so writers can replace a checkpoint's
// tensors by the (quantized, AWQ-scaled) values a job produced.
#pragma once

#include <map>
#include <string>

#include "core/model/model_spec.h"
#include "core/model/model_weights.h"

namespace quench {

// name → fp32 tensor, for every non-empty parameter of `weights`.
std::map<std::string, Tensor> NamedModelTensors(const ModelSpec& spec, const ModelWeights& weights);

}  // namespace quench
