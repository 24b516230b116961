// torchchat-style JSON → Recipe (method rtn): linear:int4 or linear:int8 becomes the weights
// grid, embedding the embedding grid.
#include "core/recipe/torchchat_config_reader.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/recipe/recipe_names.h"
#include "core/recipe/yaml_map_reader.h"
#include "core/util/status_macros.h"

namespace quench::recipe_internal {
namespace {

constexpr std::string_view kTorchchatKeys[] = {"linear:int4", "linear:int8", "embedding"};
constexpr std::string_view kTorchchatInt4Keys[] = {"groupsize"};
constexpr std::string_view kTorchchatGridKeys[] = {"bitwidth", "groupsize"};

absl::Status CheckTorchchatKeys(const Source& source, const YAML::Node& root) {
  for (const auto& entry : root) {
    const std::string& key = entry.first.Scalar();
    if (!Contains(kTorchchatKeys, key)) {
      return source.Error(entry.first.Mark(),
                          absl::StrCat("unknown torchchat-style key '", key,
                                       "' (supported: ", JoinNames(kTorchchatKeys), ")"));
    }
  }
  return absl::OkStatus();
}

// A symmetric int grid from torchchat's bitwidth/groupsize (groupsize 0 or absent: per channel).
absl::StatusOr<GridSpec> ReadTorchchatGrid(const MapReader& map, int default_bits) {
  GridSpec grid;
  grid.bits = default_bits;
  QUENCH_RETURN_IF_ERROR(map.Read("bitwidth", &grid.bits));
  int64_t group_size = 0;
  QUENCH_RETURN_IF_ERROR(map.Read("groupsize", &group_size));
  if (group_size < 0) {
    return map.Error("groupsize", absl::StrCat("'", map.PathOf("groupsize"), "' is ", group_size,
                                               " (allowed: 0 for per channel, or at least 1)"));
  }
  grid.granularity = group_size > 0 ? Granularity::kGroup : Granularity::kChannel;
  if (group_size > 0) grid.group_size = group_size;
  return grid;
}

// The grid under `key`, with `allowed` fields; a null value means all defaults.
template <size_t N>
absl::StatusOr<GridSpec> ReadTorchchatSection(const MapReader& top, std::string_view key,
                                              const std::string_view (&allowed)[N],
                                              int default_bits) {
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> section, top.Child(key, allowed));
  if (!section) {
    GridSpec grid;
    grid.bits = default_bits;
    grid.granularity = Granularity::kChannel;
    return grid;
  }
  return ReadTorchchatGrid(*section, default_bits);
}

}  // namespace

// torchchat keys are "kind:variant" ("linear:int4"), and its embedding section speaks of
// bitwidth/groupsize where Quench's says bits/group_size.
bool IsTorchchatConfig(const YAML::Node& root) {
  if (!root.IsMap()) return false;
  for (const auto& entry : root) {
    if (!entry.first.IsScalar()) return false;
    const std::string& key = entry.first.Scalar();
    if (key.find(':') != std::string::npos) return true;
    if (key != "embedding" || !entry.second.IsMap()) continue;
    for (const auto& field : entry.second) {
      if (field.first.IsScalar() &&
          (field.first.Scalar() == "bitwidth" || field.first.Scalar() == "groupsize")) {
        return true;
      }
    }
  }
  return false;
}

absl::StatusOr<Recipe> ReadTorchchatRecipe(const Source& source, const YAML::Node& root) {
  QUENCH_RETURN_IF_ERROR(CheckTorchchatKeys(source, root));
  QUENCH_ASSIGN_OR_RETURN(const MapReader top, MapReader::Open(source, root, "", kTorchchatKeys));
  if (top.Has("linear:int4") && top.Has("linear:int8")) {
    return top.Error("linear:int8", "'linear:int4' and 'linear:int8' are both given; keep one");
  }
  Recipe recipe;
  recipe.method = QuantMethod::kRtn;
  if (top.Has("linear:int4")) {
    QUENCH_ASSIGN_OR_RETURN(recipe.weights,
                            ReadTorchchatSection(top, "linear:int4", kTorchchatInt4Keys, 4));
  } else if (top.Has("linear:int8")) {
    QUENCH_ASSIGN_OR_RETURN(recipe.weights,
                            ReadTorchchatSection(top, "linear:int8", kTorchchatGridKeys, 8));
  } else {
    // Embeddings only: every linear keeps its weights.
    recipe.overrides.push_back({.match = ".*", .grid = std::nullopt, .skip = true});
  }
  if (top.Has("embedding")) {
    recipe.embedding.enabled = true;
    QUENCH_ASSIGN_OR_RETURN(recipe.embedding.grid,
                            ReadTorchchatSection(top, "embedding", kTorchchatGridKeys, 8));
  }
  return recipe;
}

}  // namespace quench::recipe_internal
