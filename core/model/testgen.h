// Synthetic models for tests and benchmarks at realistic shapes (`quench testgen`): random
// weights for the architecture a config.json describes, with a few large-magnitude input
// channels in the linears' inputs (real LLMs have such outlier features, and they are what
// makes quantization hard), written as a Hugging Face model directory.
#pragma once

#include <filesystem>
#include <string>

#include "absl/status/status.h"
#include "core/tensor/dtype.h"

namespace quench {

struct TestgenOptions {
  uint64_t seed = 0;
  DType dtype = DType::kF32;    // storage dtype of the weights
  int outlier_channels = 4;     // hidden channels whose norm weights are large
  float outlier_scale = 20.0f;  // how much larger
};

// Writes config.json (the given text) and model.safetensors into `dir` (created if needed).
absl::Status WriteSyntheticModel(const std::filesystem::path& dir, const std::string& config_json,
                                 const TestgenOptions& options);

// A Llama config.json for the given shape.
std::string LlamaConfigJson(int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                            int64_t kv_heads, int64_t vocab, int64_t context);

}  // namespace quench
