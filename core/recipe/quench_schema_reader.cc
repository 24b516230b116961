// Quench's schema → Recipe: every section, with grids that inherit what they do not say.
#include "core/recipe/quench_schema_reader.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/recipe/recipe_names.h"
#include "core/recipe/yaml_map_reader.h"
#include "core/util/status_macros.h"

namespace quench::recipe_internal {
namespace {

constexpr std::string_view kGridKeys[] = {"type",       "bits",          "symmetric", "granularity",
                                          "group_size", "scale_dtype",   "observer",  "percentile",
                                          "mse_grid",   "mse_max_shrink"};
constexpr std::string_view kGptqKeys[] = {"damp_percent", "block_size", "act_order",
                                          "static_groups", "true_sequential"};
constexpr std::string_view kAwqKeys[] = {"scale_grid", "duo_scaling",     "clip",
                                         "clip_grid",  "clip_max_shrink", "clip_tokens"};
constexpr std::string_view kGgufKeys[] = {"type"};
constexpr std::string_view kOverrideKeys[] = {"match", "weights", "skip"};
constexpr std::string_view kCalibrationKeys[] = {"path", "samples", "seq_len", "seed", "shards"};
constexpr std::string_view kEvaluationKeys[] = {"path", "max_sequences", "seq_len"};

// ------------------------------------------------------------------------------------------------
// Grids.

// A grid of `kind` that keeps `inherited`'s observer and scale settings but takes the kind's own
// bits, symmetry and grouping, so that `type: mxfp4` alone is a valid grid.
GridSpec WithKindDefaults(const GridSpec& inherited, GridKind kind) {
  const GridSpec fresh;
  GridSpec grid = inherited;
  grid.kind = kind;
  grid.bits = fresh.bits;
  grid.symmetric = true;
  grid.granularity = fresh.granularity;
  grid.group_size = fresh.group_size;
  constexpr int64_t kMxBlock = 32;
  switch (kind) {
    case GridKind::kInt:
      break;
    case GridKind::kFp8:
      grid.bits = 8;
      grid.granularity = Granularity::kChannel;
      break;
    case GridKind::kNf4:
    case GridKind::kFp4:
      grid.bits = 4;
      break;
    case GridKind::kMxFp4:
      grid.bits = 4;
      grid.group_size = kMxBlock;
      break;
    case GridKind::kMxFp8:
    case GridKind::kMxInt8:
      grid.bits = 8;
      grid.group_size = kMxBlock;
      break;
    case GridKind::kGgml:  // not a recipe type: GGUF block types come from gguf.type
      break;
  }
  return grid;
}

// Reads the group size and granularity. A group size given without a granularity implies it:
// 0 means one group per channel (the stored group size then stays as it was, unused), more
// means per group.
absl::Status ReadGrouping(const MapReader& map, GridSpec* grid) {
  const bool granularity_given = map.Has("granularity");
  QUENCH_RETURN_IF_ERROR(map.Read("granularity", kGranularities, &grid->granularity));
  if (!map.Has("group_size")) return absl::OkStatus();
  int64_t group_size = 0;
  QUENCH_RETURN_IF_ERROR(map.Read("group_size", &group_size));
  const std::string path = map.PathOf("group_size");
  if (group_size < 0) {
    return map.Error("group_size", absl::StrCat("'", path, "' is ", group_size,
                                                " (allowed: 0 for per channel, or at least 1)"));
  }
  if (group_size > 0) {
    grid->group_size = group_size;
    if (!granularity_given) grid->granularity = Granularity::kGroup;
    return absl::OkStatus();
  }
  if (granularity_given && grid->granularity == Granularity::kGroup) {
    return map.Error("group_size", absl::StrCat("'", path,
                                                "' is 0 (per channel) but granularity is group "
                                                "(allowed: a group size of at least 1, or "
                                                "granularity: channel)"));
  }
  if (!granularity_given) grid->granularity = Granularity::kChannel;
  return absl::OkStatus();
}

// A grid mapping over `base`: keys not given keep base's values.
absl::StatusOr<GridSpec> ReadGrid(const MapReader& map, const GridSpec& base) {
  GridKind kind = base.kind;
  QUENCH_RETURN_IF_ERROR(map.Read("type", kGridKinds, &kind));
  GridSpec grid = kind == base.kind ? base : WithKindDefaults(base, kind);
  QUENCH_RETURN_IF_ERROR(map.Read("bits", &grid.bits));
  QUENCH_RETURN_IF_ERROR(map.Read("symmetric", &grid.symmetric));
  QUENCH_RETURN_IF_ERROR(ReadGrouping(map, &grid));
  QUENCH_RETURN_IF_ERROR(map.Read("scale_dtype", kScaleDTypes, &grid.scale_dtype));
  QUENCH_RETURN_IF_ERROR(map.Read("observer", kObservers, &grid.observer));
  QUENCH_RETURN_IF_ERROR(map.Read("percentile", &grid.percentile));
  QUENCH_RETURN_IF_ERROR(map.Read("mse_grid", &grid.mse_grid));
  QUENCH_RETURN_IF_ERROR(map.Read("mse_max_shrink", &grid.mse_max_shrink));
  return grid;
}

// Embeddings default to int8 per channel (row), the common choice that keeps quality.
GridSpec DefaultEmbeddingGrid() {
  GridSpec grid;
  grid.bits = 8;
  grid.granularity = Granularity::kChannel;
  return grid;
}

// ------------------------------------------------------------------------------------------------
// Quench's schema.

absl::Status ReadGptqOptions(const MapReader& map, GptqOptions* gptq) {
  QUENCH_RETURN_IF_ERROR(map.Read("damp_percent", &gptq->damp_percent));
  QUENCH_RETURN_IF_ERROR(map.Read("block_size", &gptq->block_size));
  QUENCH_RETURN_IF_ERROR(map.Read("act_order", &gptq->act_order));
  QUENCH_RETURN_IF_ERROR(map.Read("static_groups", &gptq->static_groups));
  return map.Read("true_sequential", &gptq->true_sequential);
}

absl::Status ReadAwqOptions(const MapReader& map, AwqOptions* awq) {
  QUENCH_RETURN_IF_ERROR(map.Read("scale_grid", &awq->scale_grid));
  QUENCH_RETURN_IF_ERROR(map.Read("duo_scaling", &awq->duo_scaling));
  QUENCH_RETURN_IF_ERROR(map.Read("clip", &awq->clip));
  QUENCH_RETURN_IF_ERROR(map.Read("clip_grid", &awq->clip_grid));
  QUENCH_RETURN_IF_ERROR(map.Read("clip_max_shrink", &awq->clip_max_shrink));
  return map.Read("clip_tokens", &awq->clip_tokens);
}

absl::Status ReadGgufOptions(const MapReader& map, GgufOptions* gguf) {
  return map.Read("type", &gguf->type);
}

absl::Status ReadCalibrationOptions(const MapReader& map, CalibrationOptions* calibration) {
  QUENCH_RETURN_IF_ERROR(map.Read("path", &calibration->path));
  QUENCH_RETURN_IF_ERROR(map.Read("samples", &calibration->samples));
  QUENCH_RETURN_IF_ERROR(map.Read("seq_len", &calibration->seq_len));
  QUENCH_RETURN_IF_ERROR(map.Read("seed", &calibration->seed));
  return map.Read("shards", &calibration->shards);
}

absl::Status ReadEvaluationOptions(const MapReader& map, EvaluationOptions* evaluation) {
  QUENCH_RETURN_IF_ERROR(map.Read("path", &evaluation->path));
  QUENCH_RETURN_IF_ERROR(map.Read("max_sequences", &evaluation->max_sequences));
  return map.Read("seq_len", &evaluation->seq_len);
}

absl::StatusOr<LayerOverride> ReadOverride(const MapReader& map, const GridSpec& weights) {
  if (!map.Has("match")) {
    return map.Error(
        absl::StrCat("'", map.PathOf("match"),
                     "' is missing (each override needs match: a regex over linear names, "
                     "plus weights: {...} or skip: true)"));
  }
  LayerOverride layer_override;
  QUENCH_RETURN_IF_ERROR(map.Read("match", &layer_override.match));
  QUENCH_RETURN_IF_ERROR(map.Read("skip", &layer_override.skip));
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> grid_map, map.Child("weights", kGridKeys));
  if (grid_map) {
    QUENCH_ASSIGN_OR_RETURN(layer_override.grid, ReadGrid(*grid_map, weights));
  }
  return layer_override;
}

absl::StatusOr<std::vector<LayerOverride>> ReadOverrides(const MapReader& top,
                                                         const GridSpec& weights) {
  std::vector<LayerOverride> overrides;
  const YAML::Node* list = top.Value("overrides");
  if (list == nullptr) return overrides;
  if (!list->IsSequence()) {
    return top.Error("overrides",
                     absl::StrCat("'overrides' must be a list of mappings with keys ",
                                  JoinNames(kOverrideKeys), ", found ", Describe(*list)));
  }
  for (size_t i = 0; i < list->size(); ++i) {
    QUENCH_ASSIGN_OR_RETURN(const MapReader item,
                            MapReader::Open(top.source(), (*list)[i],
                                            absl::StrCat("overrides[", i, "]"), kOverrideKeys));
    QUENCH_ASSIGN_OR_RETURN(LayerOverride layer_override, ReadOverride(item, weights));
    overrides.push_back(std::move(layer_override));
  }
  return overrides;
}

// Reads the section `key` with `read` when it is given (and not null).
template <size_t N, typename Options, typename ReadFn>
absl::Status ReadSection(const MapReader& top, std::string_view key,
                         const std::string_view (&allowed)[N], ReadFn read, Options* options) {
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> section, top.Child(key, allowed));
  if (!section) return absl::OkStatus();
  return read(*section, options);
}

}  // namespace

absl::StatusOr<Recipe> ReadQuenchRecipe(const Source& source, const YAML::Node& root) {
  QUENCH_ASSIGN_OR_RETURN(const MapReader top, MapReader::Open(source, root, "", kTopLevelKeys));
  Recipe recipe;
  QUENCH_RETURN_IF_ERROR(top.Read("name", &recipe.name));
  QUENCH_RETURN_IF_ERROR(top.Read("method", kMethods, &recipe.method));
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> weights, top.Child("weights", kGridKeys));
  if (weights) {
    QUENCH_ASSIGN_OR_RETURN(recipe.weights, ReadGrid(*weights, GridSpec{}));
  }
  QUENCH_RETURN_IF_ERROR(ReadSection(top, "gptq", kGptqKeys, ReadGptqOptions, &recipe.gptq));
  QUENCH_RETURN_IF_ERROR(ReadSection(top, "awq", kAwqKeys, ReadAwqOptions, &recipe.awq));
  QUENCH_RETURN_IF_ERROR(ReadSection(top, "gguf", kGgufKeys, ReadGgufOptions, &recipe.gguf));
  QUENCH_RETURN_IF_ERROR(top.Read("targets", &recipe.targets));
  QUENCH_RETURN_IF_ERROR(top.Read("ignore", &recipe.ignore));
  QUENCH_ASSIGN_OR_RETURN(recipe.overrides, ReadOverrides(top, recipe.weights));
  QUENCH_ASSIGN_OR_RETURN(const std::optional<MapReader> embedding,
                          top.Child("embedding", kGridKeys));
  if (embedding) {
    recipe.embedding.enabled = true;
    QUENCH_ASSIGN_OR_RETURN(recipe.embedding.grid, ReadGrid(*embedding, DefaultEmbeddingGrid()));
  }
  QUENCH_RETURN_IF_ERROR(ReadSection(top, "calibration", kCalibrationKeys, ReadCalibrationOptions,
                                     &recipe.calibration));
  QUENCH_RETURN_IF_ERROR(
      ReadSection(top, "evaluation", kEvaluationKeys, ReadEvaluationOptions, &recipe.evaluation));
  QUENCH_RETURN_IF_ERROR(top.Read("outputs", &recipe.outputs));
  return recipe;
}

}  // namespace quench::recipe_internal
