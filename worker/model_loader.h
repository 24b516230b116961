// Loads a model directory for the CLI commands: spec, checkpoint and fp32 weights, the blocks
// read from the mapped checkpoint when used (peak memory near one block, not the model).
#pragma once

#include <filesystem>
#include <optional>

#include "absl/status/statusor.h"
#include "core/io/checkpoint.h"
#include "core/model/model_spec.h"
#include "core/model/model_weights.h"

namespace quench::worker {

struct LoadedModel {
  ModelSpec spec;
  std::optional<Checkpoint> checkpoint;  // absent for a .gguf file
  ModelWeights weights;
};

// A model directory (config.json + *.safetensors) or, where `allow_gguf`, a .gguf file.
absl::StatusOr<LoadedModel> LoadModel(const std::filesystem::path& model_path,
                                      bool allow_gguf = false);

}  // namespace quench::worker
