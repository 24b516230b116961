// The plan of a quantization job, made from config.json and the recipe before any weight is
// read (DESIGN §3): the blocks, the input groups of each block in execution order, and for
// each targeted linear the grid it gets (recipe, then per-layer overrides).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/forward.h"
#include "core/model/model_spec.h"
#include "core/recipe/recipe.h"

namespace quench {

struct PlannedLinear {
  int64_t layer = 0;
  LinearRole role = LinearRole::kQ;
  std::string name;  // "model.layers.0.self_attn.q_proj" (the checkpoint name without ".weight")
  GridSpec grid;
};

struct PlannedGroup {
  InputGroup group = InputGroup::kQkv;
  std::vector<PlannedLinear> linears;  // only the ones to quantize; may be empty
};

struct PlannedBlock {
  int64_t layer = 0;
  std::vector<PlannedGroup> groups;  // every input group of the block, in execution order
};

struct QuantPlan {
  std::vector<PlannedBlock> blocks;
  std::optional<GridSpec> embedding;  // quantize the embedding table (and a tied lm_head)
  int64_t num_linears = 0;            // linears to quantize
};

// Fails when a regex does not compile, when nothing would be quantized, or when a grid does
// not fit a layer's shape (naming the layer, its shape and what the grid needs).
absl::StatusOr<QuantPlan> MakeQuantPlan(const ModelSpec& spec, const Recipe& recipe);

// "model.layers.3.mlp.down_proj"
std::string LinearModuleName(const ModelSpec& spec, int64_t layer, LinearRole role);
// "model.embed_tokens"
std::string EmbeddingModuleName(const ModelSpec& spec);

}  // namespace quench
