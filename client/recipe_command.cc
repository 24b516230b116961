// `quench recipe list | show NAME | check FILE`: the built-in presets and recipe validation.
#include <iostream>

#include "client/commands.h"
#include "core/recipe/recipe.h"
#include "core/util/status_macros.h"

namespace quench::cli {

void RegisterRecipeCommand(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand("recipe", "List, show and check quantization recipes");
  cmd->require_subcommand(1);
  cmd->footer(
      "A recipe is YAML (or JSON): method (rtn | gptq | awq); weights: type (int | fp8 | nf4 | "
      "fp4 | mxfp4 | mxfp8 | mxint8), bits, symmetric, granularity (tensor | channel | group), "
      "group_size, scale_dtype, observer (minmax | percentile | mse); gptq / awq options; targets "
      "and ignore (regexes over names like model.layers.0.mlp.down_proj); overrides (per-layer "
      "grids or skip); embedding; calibration (path, samples, seq_len, seed, shards); "
      "evaluation; outputs. torchchat-style JSON ({\"linear:int4\": {\"groupsize\": 128}}) is "
      "accepted too.\n\n`quench recipe show gptq-w4g128` prints a complete recipe to start from.");

  cmd->add_subcommand("list", "List the built-in presets")->callback([] {
    for (const auto& name : PresetNames()) std::cout << name << "\n";
  });

  auto name = std::make_shared<std::string>();
  CLI::App* show = cmd->add_subcommand("show", "Print a preset as YAML, every field spelled out");
  show->add_option("name", *name, "Preset name")->required();
  show->callback([name, &exit_code] {
    auto recipe = LoadPreset(*name);
    if (!recipe.ok()) {
      exit_code = ReportError("recipe show", recipe.status());
      return;
    }
    std::cout << RecipeToYaml(*recipe);
  });

  auto path = std::make_shared<std::string>();
  CLI::App* check = cmd->add_subcommand("check", "Validate a recipe file and print it resolved");
  check->add_option("file", *path, "Recipe file")->required();
  check->callback([path, &exit_code] {
    auto recipe = LoadRecipe(*path);
    if (recipe.ok()) {
      if (auto status = recipe->Validate(); !status.ok()) recipe = status;
    }
    if (!recipe.ok()) {
      exit_code = ReportError("recipe check", recipe.status());
      return;
    }
    std::cout << RecipeToYaml(*recipe);
  });
}

}  // namespace quench::cli
