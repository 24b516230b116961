// Reads a quantized Hugging Face checkpoint that Quench or a peer wrote (GPTQ, AWQ gemm,
// compressed-tensors pack-quantized / float-quantized) back into Quench's unpacked form, module
// by module, through each format's reader: what `quench inspect` shows and checks.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/io/checkpoint.h"
#include "core/quant/quantized_tensor.h"
#include "nlohmann/json.hpp"

namespace quench {

struct QuantizedCheckpointModule {
  std::string name;  // "model.layers.0.self_attn.q_proj"
  QuantizedTensor tensor;
};

struct QuantizedCheckpoint {
  std::string format;  // "gptq", "awq" or "compressed-tensors" (config.json's quant_method)
  std::vector<QuantizedCheckpointModule> modules;  // in tensor-name order
};

// `config` is the model's config.json; NotFound when it has no quantization_config (a plain
// model), Unimplemented for a quant_method Quench does not read.
absl::StatusOr<QuantizedCheckpoint> ReadQuantizedCheckpoint(const Checkpoint& checkpoint,
                                                            const nlohmann::json& config);

}  // namespace quench
