// `quench local quantize`: a whole quantization job in this process, through the same driver
// the service uses.
#include <iostream>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/progress.h"
#include "core/eval/compare.h"
#include "core/export/export_outputs.h"
#include "core/gguf/gguf_model_writer.h"
#include "core/job/quantization_driver.h"
#include "core/recipe/recipe.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/local_job.h"

namespace quench::cli {

using worker::LocalJobCallbacks;
using worker::LocalJobResult;
using worker::RunLocalJob;
namespace {

// The grids the linears got: one line when they share one (the usual recipe), counts per grid
// when they differ (overrides, GGUF mixtures such as Q4_K_M).
std::string GridSummary(const std::vector<LinearReport>& reports) {
  std::map<std::string, int> counts;
  for (const auto& layer : reports) ++counts[layer.grid];
  if (counts.size() == 1) return counts.begin()->first;
  std::vector<std::string> parts;
  for (const auto& [grid, count] : counts) parts.push_back(absl::StrCat(count, "x ", grid));
  return absl::StrJoin(parts, "; ");
}

struct QuantizeFlags {
  std::string model;
  std::string recipe;
  std::string preset;
  std::string calib;
  std::string eval;
  std::string out;
  int64_t shards = 0;
  bool json = false;
};

void PrintComparison(const char* what, const ComparisonResult& c) {
  std::cout << absl::StrFormat(
      "%s on %d tokens: perplexity %.4f (original %.4f, %+.2f%%), KL %.5f nats, top-1 %.2f%%\n",
      what, c.positions, c.candidate.perplexity(), c.reference.perplexity(),
      100.0 * (c.candidate.perplexity() / c.reference.perplexity() - 1.0), c.mean_kl(),
      100.0 * c.top1_agreement());
}

absl::StatusOr<Recipe> ResolveRecipe(const QuantizeFlags& flags) {
  Recipe recipe;
  if (!flags.recipe.empty()) {
    QUENCH_ASSIGN_OR_RETURN(recipe, LoadRecipe(flags.recipe));
  } else {
    QUENCH_ASSIGN_OR_RETURN(recipe, LoadPreset(flags.preset));
  }
  if (!flags.calib.empty()) recipe.calibration.path = flags.calib;
  if (!flags.eval.empty()) recipe.evaluation.path = flags.eval;
  if (flags.shards > 0) recipe.calibration.shards = flags.shards;
  QUENCH_RETURN_IF_ERROR(recipe.Validate());
  return recipe;
}

absl::Status Run(const QuantizeFlags& flags) {
  QUENCH_ASSIGN_OR_RETURN(const Recipe recipe, ResolveRecipe(flags));
  const std::filesystem::path out_dir = flags.out;
  ProgressReporter progress("quantize", "blocks", !flags.json);
  std::optional<ProgressReporter> eval_progress;
  std::string eval_label;
  LocalJobCallbacks callbacks;
  callbacks.progress = [&](const DriverProgress& p) {
    progress.Update(p.block, p.blocks, p.stage);
  };
  callbacks.eval_progress = [&](const std::string& label, int64_t done, int64_t total) {
    if (!eval_progress || label != eval_label) {  // a new evaluation: a new bar
      progress.Finish();
      if (eval_progress) eval_progress->Finish();
      eval_progress.emplace(label, "sequences", !flags.json);
      eval_label = label;
    }
    eval_progress->Update(done, total, "");
  };
  QUENCH_ASSIGN_OR_RETURN(const LocalJobResult job,
                          RunLocalJob(flags.model, recipe, out_dir, callbacks));
  progress.Finish();
  if (eval_progress) eval_progress->Finish();
  const nlohmann::ordered_json& report = job.report;
  const std::vector<QuantizationOutcome>& outcomes = job.outcomes;
  const QuantizationOutcome& outcome = outcomes.front();
  const double quantize_seconds = job.quantize_seconds;
  const std::vector<std::string>& exports = job.exports;
  const std::optional<ComparisonResult>& comparison = job.comparison;
  const std::optional<ComparisonResult>& gguf_comparison = job.gguf_comparison;
  if (flags.json) {
    std::cout << report.dump(2) << "\n";
    return absl::OkStatus();
  }
  std::cout << absl::StrFormat(
      "%s: %d linears quantized (%s) in %.2f s; %d calibration tokens in %d shards\n", recipe.name,
      outcome.linears, GridSummary(outcome.reports), quantize_seconds, outcome.calibration_tokens,
      outcome.shards);
  // The layers that lost the most, first.
  std::vector<const LinearReport*> worst;
  for (const auto& layer : outcome.reports) worst.push_back(&layer);
  std::sort(worst.begin(), worst.end(), [](const auto* a, const auto* b) {
    return a->relative_output_error > b->relative_output_error;
  });
  std::cout << "largest relative output errors:\n";
  for (size_t i = 0; i < std::min<size_t>(5, worst.size()); ++i) {
    std::cout << absl::StrFormat("  %-48s %.3e\n", worst[i]->name, worst[i]->relative_output_error);
  }
  if (outcomes.size() > 1) {
    std::cout << absl::StrFormat("and, in the same pass, for the gguf output: %d linears (%s)\n",
                                 outcomes[1].linears, GridSummary(outcomes[1].reports));
  }
  if (comparison) PrintComparison("evaluation", *comparison);
  if (gguf_comparison) PrintComparison("evaluation of model.gguf", *gguf_comparison);
  std::cout << "wrote " << (out_dir / "fake_quant").string() << "/, ";
  for (const auto& output : exports) {
    std::cout << (output == "gguf" ? (out_dir / kGgufFileName).string()
                                   : (out_dir / output).string() + "/")
              << ", ";
  }
  if (outcomes.size() > 1) std::cout << (out_dir / kGgufSolveArtifactName).string() << ", ";
  std::cout << (out_dir / "quench.safetensors").string() << ", "
            << (out_dir / "report.json").string() << "\n";
  return absl::OkStatus();
}

}  // namespace

void RegisterLocalCommand(CLI::App& app, int& exit_code) {
  CLI::App* local = app.add_subcommand("local", "Run a job on this machine, in one process");
  local->require_subcommand(1);
  auto flags = std::make_shared<QuantizeFlags>();
  CLI::App* cmd =
      local->add_subcommand("quantize", "Quantize a model with a recipe and report what it cost");
  cmd->footer(
      "Runs the recipe's method (RTN, GPTQ or AWQ) block by block over calibration shards, then "
      "evaluates the quantized model against the original when evaluation data is given.\n\n"
      "Writes into --out: fake_quant/ (a Hugging Face model directory with the dequantized "
      "weights), quench.safetensors (codes, scales, zero points, g_idx for the exporters), "
      "recipe.yaml (the recipe as run) and report.json, plus a directory per checkpoint format "
      "the recipe's `outputs` lists: gptq/ (GPTQ v1, as transformers and vLLM load it), "
      "gptq_v2/, awq/ (AWQ gemm). Layers a listed format cannot hold are reported before any "
      "work starts.\n\n"
      "Example:\n  quench local quantize --model ../shared/models/stories260K --preset gptq-w4g32 "
      "\\\n"
      "    --calib ../shared/data/stories260K-calib.jsonl --eval "
      "../shared/data/stories260K-eval.jsonl "
      "--out /tmp/q");
  cmd->add_option("--model", flags->model, "Model directory (config.json, *.safetensors)")
      ->required();
  auto* recipe =
      cmd->add_option("--recipe", flags->recipe, "Recipe file (YAML or JSON; see `quench recipe`)");
  auto* preset =
      cmd->add_option("--preset", flags->preset, "A built-in recipe (`quench recipe list`)");
  recipe->excludes(preset);
  cmd->add_option("--calib", flags->calib,
                  "Calibration data (JSONL or text); overrides the recipe's");
  cmd->add_option("--eval", flags->eval, "Evaluation data (JSONL or text); overrides the recipe's");
  cmd->add_option("--shards", flags->shards, "Calibration shards; overrides the recipe's")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--out", flags->out, "Output directory (created if needed)")->required();
  cmd->add_flag("--json", flags->json, "Print report.json instead of a summary; no progress");
  cmd->callback([flags, &exit_code, recipe, preset] {
    if (recipe->count() == 0 && preset->count() == 0) {
      throw CLI::ValidationError("local quantize", "give --recipe FILE or --preset NAME");
    }
    if (const auto status = Run(*flags); !status.ok())
      exit_code = ReportError("local quantize", status);
  });
}

}  // namespace quench::cli
