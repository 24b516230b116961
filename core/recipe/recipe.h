// A quantization recipe: which method, which grid, which layers, with which options, and where
// calibration and evaluation data come from. Parsed from YAML or JSON (Quench's schema, or
// torchchat-style JSON), or taken from a built-in preset.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/quant/grid.h"

namespace quench {

enum class QuantMethod { kRtn, kGptq, kAwq };
absl::string_view QuantMethodName(QuantMethod method);  // "rtn", "gptq", "awq"

struct GptqOptions {
  double damp_percent = 0.01;   // of the mean Hessian diagonal
  int64_t block_size = 128;     // lazy-update block (columns)
  bool act_order = false;       // quantize columns by decreasing Hessian diagonal (desc_act)
  bool static_groups = false;   // group parameters from the original weights, before updates
  bool true_sequential = true;  // input groups one after another inside a block
};

struct AwqOptions {
  int scale_grid = 20;      // ratios tried in the scale search
  bool duo_scaling = true;  // scales from activations and weights (else activations only)
  bool clip = true;         // clip search (never on q/k)
  int clip_grid = 20;
  double clip_max_shrink = 0.5;
  int64_t clip_tokens = 512;  // calibration tokens the clip search looks at
};

// A per-layer override: layers whose name matches `match` (a regex, searched) get `grid`
// instead of the recipe's, or are skipped when `skip` is set.
struct LayerOverride {
  std::string match;
  std::optional<GridSpec> grid;
  bool skip = false;
};

struct EmbeddingQuantization {
  bool enabled = false;
  GridSpec grid;  // int, per channel (group_size 0) or per group along the hidden dimension
};

struct CalibrationOptions {
  std::string path;       // JSONL (input_ids or text) or plain text; empty: given on the CLI
  int64_t samples = 128;  // sequences
  int64_t seq_len = 256;  // tokens per sequence (text is cut into windows of this length)
  uint64_t seed = 0;      // which samples, when the file has more than `samples`
  int64_t shards = 8;     // the calibration set is cut into this many shards (DESIGN §3)
};

struct EvaluationOptions {
  std::string path;           // empty: no evaluation unless given on the CLI
  int64_t max_sequences = 0;  // 0: all
  int64_t seq_len = 0;        // 0: JSONL lines whole; text: calibration.seq_len
};

// Solving on GGUF's own grids: with `type` set (a llama-quantize mixture such as "q4_0" or
// "q4_k_m"), each linear is quantized onto the block type llama.cpp's rules give it, so the
// .gguf holds the solver's codes with no second rounding. Widths no block fits stay unquantized.
struct GgufOptions {
  std::string type;  // empty: linears use `weights`
};

struct Recipe {
  std::string name;  // preset name or file stem, for reports
  QuantMethod method = QuantMethod::kGptq;
  GridSpec weights;
  GptqOptions gptq;
  AwqOptions awq;
  GgufOptions gguf;
  // Linears to quantize: full names such as "model.layers.0.self_attn.q_proj" matched
  // (searched) against every regex in `targets` and none in `ignore`.
  std::vector<std::string> targets = {".*"};
  std::vector<std::string> ignore = {"lm_head"};
  std::vector<LayerOverride> overrides;
  EmbeddingQuantization embedding;
  CalibrationOptions calibration;
  EvaluationOptions evaluation;
  std::vector<std::string> outputs = {"fake_quant", "quench"};

  // Checks everything that can be checked without a model.
  absl::Status Validate() const;
};

// Parses a recipe: YAML or JSON in Quench's schema, or torchchat-style JSON
// ({"linear:int4": {"groupsize": 128}, "embedding": {"bitwidth": 8, "groupsize": 0}}).
// `source` names the text in messages. Unknown keys and impossible combinations are errors
// that name the key and say what is allowed.
absl::StatusOr<Recipe> ParseRecipe(absl::string_view text, absl::string_view source);
absl::StatusOr<Recipe> LoadRecipe(const std::filesystem::path& path);

// Built-in presets: rtn-w4g32, gptq-w4g32, awq-w4g32, rtn-w4g128, gptq-w4g128, awq-w4g128,
// rtn-w8, ... Names in order, the YAML text of one, and the parsed recipe.
std::vector<std::string> PresetNames();
absl::StatusOr<std::string> PresetYaml(absl::string_view name);
absl::StatusOr<Recipe> LoadPreset(absl::string_view name);

// The recipe as YAML in Quench's schema (what `quench recipe show` prints; ParseRecipe reads
// it back to an equal recipe).
std::string RecipeToYaml(const Recipe& recipe);

}  // namespace quench
