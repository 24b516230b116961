// `quench local quantize`: a whole quantization job in this process, through the same driver
// the service uses.
#include <chrono>
#include <iostream>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/comparison_json.h"
#include "client/data_loading.h"
#include "client/model_loader.h"
#include "client/progress.h"
#include "core/data/sample_selection.h"
#include "core/eval/compare.h"
#include "core/export/export_outputs.h"
#include "core/export/fake_quant_writer.h"
#include "core/export/quench_artifact.h"
#include "core/gguf/gguf_model_writer.h"
#include "core/job/quantization_driver.h"
#include "core/recipe/recipe.h"
#include "core/util/atomic_file.h"
#include "core/util/process_memory.h"
#include "core/util/status_macros.h"
#include "kernels/cpu/cpu_backend.h"
#include "nlohmann/json.hpp"

namespace quench::cli {
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

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

nlohmann::ordered_json LayersJson(const std::vector<LinearReport>& reports) {
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const auto& layer : reports) {
    layers.push_back({{"name", layer.name},
                      {"grid", layer.grid},
                      {"relative_output_error", layer.relative_output_error},
                      {"relative_weight_error", layer.relative_weight_error},
                      {"gptq_loss", layer.gptq_loss},
                      {"seconds", layer.seconds}});
  }
  return layers;
}

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

absl::StatusOr<TokenSequences> LoadCalibration(const Recipe& recipe, const std::string& model_dir) {
  if (recipe.calibration.path.empty()) return TokenSequences{};
  DatasetOptions options;
  options.context = recipe.calibration.seq_len;
  QUENCH_ASSIGN_OR_RETURN(TokenSequences all,
                          LoadTokenData(recipe.calibration.path, model_dir, options));
  return SelectSamples(all, recipe.calibration.samples, recipe.calibration.seed);
}

absl::Status Run(const QuantizeFlags& flags) {
  const auto start = std::chrono::steady_clock::now();
  QUENCH_ASSIGN_OR_RETURN(const Recipe recipe, ResolveRecipe(flags));
  QUENCH_ASSIGN_OR_RETURN(LoadedModel model, LoadModel(flags.model));
  QUENCH_ASSIGN_OR_RETURN(
      const std::vector<OutputSolve> solves,
      PlanOutputSolves(model.spec, recipe, SourceWeightDType(model.spec, *model.checkpoint)));
  QUENCH_ASSIGN_OR_RETURN(const TokenSequences calibration, LoadCalibration(recipe, flags.model));

  const std::filesystem::path out_dir = flags.out;
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    return absl::PermissionDeniedError(absl::StrCat(out_dir.string(), ": ", error.message()));
  }
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"quench.recipe", recipe.name},
      {"quench.method", std::string(QuantMethodName(recipe.method))}};
  // Both outputs are streamed block by block as the job runs; they appear under their final
  // names only when the job has finished.
  QUENCH_ASSIGN_OR_RETURN(auto fake_quant,
                          FakeQuantWriter::Create(flags.model, model.spec, *model.checkpoint,
                                                  out_dir / "fake_quant", metadata));
  QUENCH_ASSIGN_OR_RETURN(auto artifact, QuenchArtifactWriter::Create(
                                             out_dir / "quench.safetensors", model.spec, metadata));
  std::vector<JobVariant> variants = {{&solves[0].plan, {fake_quant.get(), artifact.get()}}};
  // A second solve, for the gguf output on its mixture's grids, in the same pass.
  std::unique_ptr<QuenchArtifactWriter> gguf_artifact;
  if (solves.size() > 1) {
    QUENCH_ASSIGN_OR_RETURN(
        gguf_artifact,
        QuenchArtifactWriter::Create(out_dir / kGgufSolveArtifactName, model.spec, metadata));
    variants.push_back({&solves[1].plan, {gguf_artifact.get()}});
  }

  auto backend = kernels::MakeCpuBackend();
  Transformer original(model.spec, model.weights, *backend);
  auto worker = MakeLocalShardWorker(original);
  ProgressReporter progress("quantize", "blocks", !flags.json);
  DriverOptions options;
  options.progress = [&](const DriverProgress& p) { progress.Update(p.block, p.blocks, p.stage); };
  QUENCH_ASSIGN_OR_RETURN(const std::vector<QuantizationOutcome> outcomes,
                          RunQuantizationJobVariants(model.spec, model.weights, variants, recipe,
                                                     calibration, *worker, options));
  progress.Finish();
  const QuantizationOutcome& outcome = outcomes.front();
  const double quantize_seconds = SecondsSince(start);
  std::vector<std::string> exports;
  for (size_t v = 0; v < solves.size(); ++v) {
    const auto artifact_path = out_dir / (v == 0 ? "quench.safetensors" : kGgufSolveArtifactName);
    for (const std::string& output : solves[v].exports) {
      QUENCH_RETURN_IF_ERROR(WriteExport(output, artifact_path, model.spec, *model.checkpoint,
                                         flags.model, out_dir, recipe.gguf.type));
      exports.push_back(output);
    }
  }
  QUENCH_RETURN_IF_ERROR(WriteFileAtomically(out_dir / "recipe.yaml", RecipeToYaml(recipe)));

  nlohmann::ordered_json report;
  report["model"] = flags.model;
  report["recipe"] = recipe.name;
  report["method"] = std::string(QuantMethodName(recipe.method));
  report["weights"] = recipe.weights.ToString();
  report["calibration"] = {{"sequences", calibration.size()},
                           {"tokens", outcome.calibration_tokens},
                           {"shards", outcome.shards}};
  report["quantize_seconds"] = quantize_seconds;
  report["layers"] = LayersJson(outcome.reports);
  if (outcomes.size() > 1) report["gguf_layers"] = LayersJson(outcomes[1].reports);

  std::optional<ComparisonResult> comparison, gguf_comparison;
  if (!recipe.evaluation.path.empty()) {
    DatasetOptions eval_options;
    eval_options.max_sequences = recipe.evaluation.max_sequences;
    eval_options.context = recipe.evaluation.seq_len > 0 ? recipe.evaluation.seq_len
                                                         : model.spec.max_position_embeddings;
    QUENCH_ASSIGN_OR_RETURN(TokenSequences eval_data,
                            LoadTokenData(recipe.evaluation.path, flags.model, eval_options));
    // The quantized model as written: evaluation reads it back one block at a time.
    const auto evaluate = [&](const std::filesystem::path& path,
                              const char* label) -> absl::StatusOr<ComparisonResult> {
      QUENCH_ASSIGN_OR_RETURN(LoadedModel written, LoadModel(path, /*allow_gguf=*/true));
      Transformer quantized(written.spec, written.weights, *backend);
      ProgressReporter eval_progress(label, "sequences", !flags.json);
      PerplexityOptions perplexity_options;
      perplexity_options.progress = [&](int64_t done, int64_t total) {
        eval_progress.Update(done, total, "");
      };
      auto result = CompareModels(original, quantized, eval_data, perplexity_options);
      eval_progress.Finish();
      return result;
    };
    QUENCH_ASSIGN_OR_RETURN(comparison, evaluate(out_dir / "fake_quant", "evaluate"));
    report["evaluation"] = ComparisonJson(*comparison);
    if (outcomes.size() > 1) {
      QUENCH_ASSIGN_OR_RETURN(gguf_comparison, evaluate(out_dir / kGgufFileName, "evaluate gguf"));
      report["gguf_evaluation"] = ComparisonJson(*gguf_comparison);
    }
  }
  report["total_seconds"] = SecondsSince(start);
  report["peak_rss_bytes"] = PeakResidentBytes();
  QUENCH_RETURN_IF_ERROR(WriteFileAtomically(out_dir / "report.json", report.dump(2) + "\n"));

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
