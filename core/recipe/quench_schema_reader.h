// Quench's own recipe schema (YAML or JSON) read from a parsed document. Not for use outside
// core/recipe.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string_view>

#include "absl/status/statusor.h"
#include "core/recipe/recipe.h"
#include "core/recipe/yaml_map_reader.h"

namespace quench::recipe_internal {

inline constexpr std::string_view kTopLevelKeys[] = {
    "method",    "weights",     "gptq",       "awq",     "targets", "ignore", "overrides",
    "embedding", "calibration", "evaluation", "outputs", "name",    "gguf"};

// The recipe in `root`, a mapping with keys from kTopLevelKeys; not yet validated.
absl::StatusOr<Recipe> ReadQuenchRecipe(const Source& source, const YAML::Node& root);

}  // namespace quench::recipe_internal
