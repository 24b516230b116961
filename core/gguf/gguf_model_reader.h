// Reads a llama-architecture GGUF file back into Quench's model form, so `quench eval` and the
// tests run a GGUF exactly as written: the spec from llama.* metadata, and fp32 weights
// decoded from each tensor's blocks with Q and K rows put back in Hugging Face order. Blocks
// are decoded when asked for, one layer at a time.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_spec.h"
#include "core/model/model_weights.h"

namespace quench {

// The metadata keys and per-model tensors llama.cpp needs to load a llama model (with
// `blk.N.` tensors per layer), as Quench's reader also checks them.
std::vector<std::string> RequiredLlamaGgufKeys();
std::vector<std::string> RequiredLlamaGgufTensors(int64_t num_layers);

absl::StatusOr<ModelSpec> ReadGgufModelSpec(const GgufFile& file);

// Checks every tensor's presence, type and shape against the spec first; then the embedding,
// final norm and output are decoded, and blocks on demand.
absl::StatusOr<ModelWeights> LoadGgufWeights(const ModelSpec& spec,
                                             std::shared_ptr<const GgufFile> file);

}  // namespace quench
