#include "core/job/quant_plan.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/gguf/gguf_mixture.h"
#include "core/quant/quantized_tensor.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

struct CompiledRegex {
  std::string text;
  std::regex regex;
};

absl::StatusOr<std::vector<CompiledRegex>> Compile(const std::vector<std::string>& patterns,
                                                   absl::string_view key) {
  std::vector<CompiledRegex> compiled;
  for (const auto& pattern : patterns) {
    try {
      compiled.push_back({pattern, std::regex(pattern, std::regex::ECMAScript)});
    } catch (const std::regex_error& error) {
      return absl::InvalidArgumentError(
          absl::StrCat("recipe ", key, ": '", pattern, "' is not a valid regex: ", error.what()));
    }
  }
  return compiled;
}

bool AnyMatch(const std::vector<CompiledRegex>& patterns, const std::string& name) {
  for (const auto& pattern : patterns) {
    if (std::regex_search(name, pattern.regex)) return true;
  }
  return false;
}

// The grid of the GGUF block type llama.cpp's rules give this linear; nullopt when the type
// is a float one (a width no block fits): the linear stays unquantized, as in llama.cpp.
absl::StatusOr<std::optional<GridSpec>> GgufGridForLinear(const GgufMixture& mixture,
                                                          const ModelSpec& spec, int64_t layer,
                                                          LinearRole role, const std::string& name,
                                                          const GridSpec& observer) {
  const int64_t in = spec.LinearShape(role).second;
  const GgmlType type = GgufTypeForWeight(mixture, spec, GgufRoleOfLinear(role), layer, in);
  if (type == GgmlType::kF16 || type == GgmlType::kBF16 || type == GgmlType::kF32)
    return std::optional<GridSpec>();
  if (auto grid = GridForGgmlType(type)) {
    // The block type fixes the layout; how each block's range is chosen stays the recipe's,
    // except for ggml grids, whose blocks are chosen by llama.cpp's own search.
    if (grid->kind == GridKind::kGgml) return grid;
    grid->observer = observer.observer;
    grid->percentile = observer.percentile;
    grid->mse_grid = observer.mse_grid;
    grid->mse_max_shrink = observer.mse_max_shrink;
    return grid;
  }
  return absl::UnimplementedError(absl::StrCat("gguf.type ", mixture.name, " gives ", name,
                                               " the block type ", GgmlTypeInfoOf(type).name,
                                               ", whose grid Quench cannot solve on"));
}

}  // namespace

std::string LinearModuleName(const ModelSpec& spec, int64_t layer, LinearRole role) {
  std::string name = spec.LinearName(layer, role);
  return std::string(absl::StripSuffix(name, ".weight"));
}

std::string EmbeddingModuleName(const ModelSpec& spec) {
  return std::string(absl::StripSuffix(spec.EmbeddingName(), ".weight"));
}

absl::StatusOr<QuantPlan> MakeQuantPlan(const ModelSpec& spec, const Recipe& recipe) {
  QUENCH_ASSIGN_OR_RETURN(const auto targets, Compile(recipe.targets, "targets"));
  QUENCH_ASSIGN_OR_RETURN(const auto ignore, Compile(recipe.ignore, "ignore"));
  std::vector<CompiledRegex> override_patterns;
  for (size_t i = 0; i < recipe.overrides.size(); ++i) {
    QUENCH_ASSIGN_OR_RETURN(auto compiled, Compile({recipe.overrides[i].match},
                                                   absl::StrCat("overrides[", i, "].match")));
    override_patterns.push_back(std::move(compiled.front()));
  }

  std::optional<GgufMixture> mixture;
  if (!recipe.gguf.type.empty()) {
    mixture = FindGgufMixture(recipe.gguf.type);
    if (!mixture) return absl::InvalidArgumentError("unknown gguf.type " + recipe.gguf.type);
  }
  QuantPlan plan;
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    PlannedBlock& block = plan.blocks.emplace_back();
    block.layer = layer;
    for (InputGroup group : kAllInputGroups) {
      PlannedGroup& planned_group = block.groups.emplace_back();
      planned_group.group = group;
      for (LinearRole role : GroupRoles(spec, group)) {
        const std::string name = LinearModuleName(spec, layer, role);
        if (!AnyMatch(targets, name) || AnyMatch(ignore, name)) continue;
        std::optional<GridSpec> grid = recipe.weights;
        // Overrides apply in order; a later match wins.
        for (size_t i = 0; i < recipe.overrides.size(); ++i) {
          if (!std::regex_search(name, override_patterns[i].regex)) continue;
          if (recipe.overrides[i].skip) {
            grid.reset();
          } else if (recipe.overrides[i].grid) {
            grid = recipe.overrides[i].grid;
          }
        }
        const auto [out, in] = spec.LinearShape(role);
        if (grid && mixture) {
          QUENCH_ASSIGN_OR_RETURN(grid,
                                  GgufGridForLinear(*mixture, spec, layer, role, name, *grid));
        }
        if (!grid) continue;
        const auto fits = MakeQuantizedTensor(*grid, out, in);
        if (!fits.ok()) {
          return absl::InvalidArgumentError(absl::StrCat("layer ", name, " [", out, ", ", in,
                                                         "] cannot take ", grid->ToString(), ": ",
                                                         fits.status().message()));
        }
        planned_group.linears.push_back({layer, role, name, *grid});
        ++plan.num_linears;
      }
    }
  }
  if (recipe.embedding.enabled) {
    const auto fits = MakeQuantizedTensor(recipe.embedding.grid, spec.vocab_size, spec.hidden_size);
    if (!fits.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the embedding [", spec.vocab_size, ", ", spec.hidden_size, "] cannot take ",
                       recipe.embedding.grid.ToString(), ": ", fits.status().message()));
    }
    plan.embedding = recipe.embedding.grid;
  }
  if (plan.num_linears == 0 && !plan.embedding) {
    return absl::InvalidArgumentError(
        "the recipe selects no layer to quantize: check `targets` and `ignore` against names "
        "like " +
        LinearModuleName(spec, 0, LinearRole::kQ));
  }
  return plan;
}

}  // namespace quench
