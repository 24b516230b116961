// torchchat-style JSON recipes: {"linear:int4": {"groupsize": 128}, "embedding": {"bitwidth": 8}}.
// Not for use outside core/recipe.
#pragma once

#include <yaml-cpp/yaml.h>

#include "absl/status/statusor.h"
#include "core/recipe/recipe.h"
#include "core/recipe/yaml_map_reader.h"

namespace quench::recipe_internal {

// Whether `root` is in torchchat's dialect rather than Quench's schema.
bool IsTorchchatConfig(const YAML::Node& root);

// The rtn recipe `root` (a torchchat config) describes; not yet validated.
absl::StatusOr<Recipe> ReadTorchchatRecipe(const Source& source, const YAML::Node& root);

}  // namespace quench::recipe_internal
