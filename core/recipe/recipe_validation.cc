// Recipe::Validate: everything about a recipe that can be checked without a model, with
// messages that name the key path and say what is allowed.
#include "core/recipe/recipe.h"

#include <cstddef>
#include <exception>
#include <regex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/gguf/gguf_mixture.h"
#include "core/recipe/recipe_names.h"
#include "core/util/absl_view.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

using recipe_internal::Contains;
using recipe_internal::FormatNumber;
using recipe_internal::JoinNames;
using recipe_internal::JoinPath;
using recipe_internal::kGranularities;
using recipe_internal::kGridKinds;
using recipe_internal::kOutputNames;
using recipe_internal::NameOf;

absl::Status Invalid(std::string_view path, std::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(AbslView(path), ": ", AbslView(problem)));
}

absl::Status ValidateGrid(const GridSpec& grid, std::string_view path) {
  const absl::Status status = grid.Validate();
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(AbslView(path), ": ", status.message()));
}

// The method's demands on a grid (the recipe's weights or an override's).
absl::Status ValidateGridForMethod(const Recipe& recipe, const GridSpec& grid,
                                   std::string_view path) {
  const std::string_view granularity = NameOf(kGranularities, grid.granularity);
  switch (recipe.method) {
    case QuantMethod::kRtn:
      break;
    case QuantMethod::kAwq:
      if (grid.kind != GridKind::kInt) {
        return Invalid(JoinPath(path, "type"),
                       absl::StrCat(AbslView(NameOf(kGridKinds, grid.kind)),
                                    " does not work with method awq, whose scale and clip "
                                    "searches are for int grids (use type: int, symmetric or "
                                    "not, or method rtn/gptq)"));
      }
      break;
    case QuantMethod::kGptq:
      if (recipe.gptq.static_groups && grid.granularity != Granularity::kGroup) {
        return Invalid("gptq.static_groups",
                       absl::StrCat("needs granularity group, but ", AbslView(path),
                                    ".granularity is ", AbslView(granularity),
                                    " (set static_groups: false, or granularity: group)"));
      }
      if (recipe.gptq.act_order && grid.granularity == Granularity::kTensor) {
        return Invalid("gptq.act_order",
                       absl::StrCat("needs granularity channel or group, but ", AbslView(path),
                                    ".granularity is tensor (set act_order: false)"));
      }
      break;
  }
  return absl::OkStatus();
}

absl::Status ValidateGptqOptions(const GptqOptions& gptq) {
  if (!(gptq.damp_percent > 0 && gptq.damp_percent <= 1)) {
    return Invalid("gptq.damp_percent", absl::StrCat(FormatNumber(gptq.damp_percent),
                                                     " is outside (0, 1] (usual: 0.01)"));
  }
  if (gptq.block_size < 1) {
    return Invalid("gptq.block_size",
                   absl::StrCat(gptq.block_size, " is not allowed (at least 1; usual: 128)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateAwqOptions(const AwqOptions& awq) {
  if (awq.scale_grid < 1) {
    return Invalid("awq.scale_grid",
                   absl::StrCat(awq.scale_grid, " is not allowed (at least 1; usual: 20)"));
  }
  if (awq.clip_grid < 1) {
    return Invalid("awq.clip_grid",
                   absl::StrCat(awq.clip_grid, " is not allowed (at least 1; usual: 20)"));
  }
  if (!(awq.clip_max_shrink >= 0 && awq.clip_max_shrink < 1)) {
    return Invalid("awq.clip_max_shrink", absl::StrCat(FormatNumber(awq.clip_max_shrink),
                                                       " is outside [0, 1) (usual: 0.5)"));
  }
  if (awq.clip_tokens < 1) {
    return Invalid("awq.clip_tokens",
                   absl::StrCat(awq.clip_tokens, " is not allowed (at least 1; usual: 512)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRegex(const std::string& pattern, std::string_view path) {
  if (pattern.empty()) {
    return Invalid(path, "is empty (give a regex such as 'mlp\\.down_proj'; '.*' matches all)");
  }
  try {
    const std::regex compiled(pattern, std::regex::ECMAScript);
  } catch (const std::exception& error) {  // std::regex_error, or running out of memory
    return Invalid(
        path,
        absl::StrCat("'", pattern, "' is not a valid regex (ECMAScript syntax): ", error.what()));
  }
  return absl::OkStatus();
}

absl::Status ValidatePatterns(const std::vector<std::string>& patterns, std::string_view key) {
  for (size_t i = 0; i < patterns.size(); ++i) {
    QUENCH_RETURN_IF_ERROR(ValidateRegex(patterns[i], absl::StrCat(AbslView(key), "[", i, "]")));
  }
  return absl::OkStatus();
}

absl::Status ValidateOverrides(const Recipe& recipe) {
  for (size_t i = 0; i < recipe.overrides.size(); ++i) {
    const LayerOverride& layer_override = recipe.overrides[i];
    const std::string path = absl::StrCat("overrides[", i, "]");
    QUENCH_RETURN_IF_ERROR(ValidateRegex(layer_override.match, path + ".match"));
    if (!layer_override.grid && !layer_override.skip) {
      return Invalid(path, "has neither weights nor skip (give weights: {...} or skip: true)");
    }
    if (layer_override.grid && layer_override.skip) {
      return Invalid(path,
                     "has both weights and skip: true; a skipped layer is not quantized, "
                     "so keep one");
    }
    if (layer_override.grid) {
      QUENCH_RETURN_IF_ERROR(ValidateGrid(*layer_override.grid, path + ".weights"));
      QUENCH_RETURN_IF_ERROR(
          ValidateGridForMethod(recipe, *layer_override.grid, path + ".weights"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateEmbedding(const EmbeddingQuantization& embedding) {
  if (!embedding.enabled) return absl::OkStatus();
  if (embedding.grid.kind != GridKind::kInt) {
    return Invalid("embedding.type",
                   absl::StrCat(AbslView(NameOf(kGridKinds, embedding.grid.kind)),
                                " is not supported for embeddings (allowed: int)"));
  }
  if (embedding.grid.granularity == Granularity::kTensor) {
    return Invalid("embedding.granularity",
                   "tensor is not supported for embeddings (allowed: channel, i.e. group_size: "
                   "0, or group)");
  }
  return ValidateGrid(embedding.grid, "embedding");
}

absl::Status ValidateCalibration(const CalibrationOptions& calibration) {
  if (calibration.samples < 1) {
    return Invalid("calibration.samples",
                   absl::StrCat(calibration.samples, " is not allowed (at least 1; usual: 128)"));
  }
  if (calibration.seq_len < 2) {
    return Invalid("calibration.seq_len",
                   absl::StrCat(calibration.seq_len, " is not allowed (at least 2 tokens)"));
  }
  if (calibration.shards < 1) {
    return Invalid("calibration.shards",
                   absl::StrCat(calibration.shards, " is not allowed (at least 1; usual: 8)"));
  }
  if (calibration.shards > calibration.samples) {
    return Invalid(
        "calibration.shards",
        absl::StrCat(calibration.shards, " is more than calibration.samples (", calibration.samples,
                     "); every shard needs a sample (allowed: 1 to samples)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEvaluation(const EvaluationOptions& evaluation) {
  if (evaluation.max_sequences < 0) {
    return Invalid("evaluation.max_sequences",
                   absl::StrCat(evaluation.max_sequences, " is not allowed (0 for all, or more)"));
  }
  if (evaluation.seq_len < 0 || evaluation.seq_len == 1) {
    return Invalid("evaluation.seq_len",
                   absl::StrCat(evaluation.seq_len,
                                " is not allowed (0 for the default, or at least 2 tokens)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateOutputs(const std::vector<std::string>& outputs) {
  if (outputs.empty()) {
    return Invalid("outputs", absl::StrCat("is empty (allowed: ", JoinNames(kOutputNames), ")"));
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string path = absl::StrCat("outputs[", i, "]");
    if (!Contains(kOutputNames, outputs[i])) {
      return Invalid(path, absl::StrCat("unknown output '", outputs[i],
                                        "' (allowed: ", JoinNames(kOutputNames), ")"));
    }
    if (!seen.insert(outputs[i]).second) {
      return Invalid(path, absl::StrCat("'", outputs[i], "' is listed twice"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Recipe::Validate() const {
  QUENCH_RETURN_IF_ERROR(ValidateGrid(weights, "weights"));
  QUENCH_RETURN_IF_ERROR(ValidateGridForMethod(*this, weights, "weights"));
  QUENCH_RETURN_IF_ERROR(ValidateGptqOptions(gptq));
  QUENCH_RETURN_IF_ERROR(ValidateAwqOptions(awq));
  if (targets.empty()) {
    return Invalid("targets", "is empty; give at least one regex ('.*' for every linear layer)");
  }
  QUENCH_RETURN_IF_ERROR(ValidatePatterns(targets, "targets"));
  QUENCH_RETURN_IF_ERROR(ValidatePatterns(ignore, "ignore"));
  QUENCH_RETURN_IF_ERROR(ValidateOverrides(*this));
  QUENCH_RETURN_IF_ERROR(ValidateEmbedding(embedding));
  if (!gguf.type.empty() && !FindGgufMixture(gguf.type)) {
    return Invalid("gguf.type", absl::StrCat("unknown GGUF type '", gguf.type, "' (allowed: ",
                                             absl::StrJoin(GgufMixtureNames(), ", "), ")"));
  }
  QUENCH_RETURN_IF_ERROR(ValidateCalibration(calibration));
  QUENCH_RETURN_IF_ERROR(ValidateEvaluation(evaluation));
  return ValidateOutputs(outputs);
}

}  // namespace quench
