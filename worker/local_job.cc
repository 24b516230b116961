#include "worker/local_job.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>

#include "absl/strings/str_cat.h"
#include "core/data/sample_selection.h"
#include "core/export/export_outputs.h"
#include "core/export/fake_quant_writer.h"
#include "core/export/quench_artifact.h"
#include "core/gguf/gguf_model_writer.h"
#include "core/report/html_report.h"
#include "core/report/model_size.h"
#include "core/util/atomic_file.h"
#include "core/util/process_memory.h"
#include "core/util/status_macros.h"
#include "core/util/version.h"
#include "kernels/cpu/cpu_backend.h"
#include "worker/comparison_json.h"
#include "worker/data_loading.h"
#include "worker/model_loader.h"

namespace quench::worker {
namespace {

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

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// The original's size and each output's, for the summary's size and bits-per-weight columns.
void AddSizes(const Checkpoint& original, const std::vector<OutputSolve>& solves,
              const std::vector<LinearReport>& linears, const std::filesystem::path& out_dir,
              nlohmann::ordered_json& report) {
  const CheckpointSize size = MeasureCheckpoint(original);
  uint64_t quantized = 0;
  for (const LinearReport& linear : linears) {
    if (const SafetensorsEntry* entry = original.FindEntry(linear.name + ".weight")) {
      quantized += static_cast<uint64_t>(CheckedNumElements(entry->shape).value_or(0));
    }
  }
  report["original"] = {{"bytes", size.bytes},
                        {"parameters", size.parameters},
                        {"quantized_parameters", quantized},
                        {"dtype", size.dtype}};
  nlohmann::ordered_json outputs = nlohmann::ordered_json::array();
  for (size_t v = 0; v < solves.size(); ++v) {
    for (const std::string& output : solves[v].exports) {
      outputs.push_back({{"name", output},
                         {"solve", v},
                         {"bytes", WeightFileBytes(ExportPath(output, out_dir))}});
    }
  }
  if (outputs.empty()) {
    // No packed format asked for: the job's own artifact, one byte per code.
    outputs.push_back({{"name", "quench.safetensors"},
                       {"solve", 0},
                       {"bytes", WeightFileBytes(out_dir / "quench.safetensors")},
                       {"note", "codes unpacked, a byte each; add outputs for packed files"}});
  }
  report["outputs"] = std::move(outputs);
}

absl::StatusOr<TokenSequences> LoadCalibration(const Recipe& recipe, const std::string& model_dir) {
  if (recipe.calibration.path.empty()) return TokenSequences{};
  DatasetOptions options;
  options.context = recipe.calibration.seq_len;
  QUENCH_ASSIGN_OR_RETURN(TokenSequences all,
                          LoadTokenData(recipe.calibration.path, model_dir, options));
  return SelectSamples(all, recipe.calibration.samples, recipe.calibration.seed);
}

}  // namespace

absl::StatusOr<LocalJobResult> RunLocalJob(const std::filesystem::path& model_dir,
                                           const Recipe& recipe,
                                           const std::filesystem::path& out_dir,
                                           const LocalJobCallbacks& callbacks) {
  const auto start = std::chrono::steady_clock::now();
  QUENCH_ASSIGN_OR_RETURN(LoadedModel model, LoadModel(model_dir));
  QUENCH_ASSIGN_OR_RETURN(
      const std::vector<OutputSolve> solves,
      PlanOutputSolves(model.spec, recipe, SourceWeightDType(model.spec, *model.checkpoint)));
  QUENCH_ASSIGN_OR_RETURN(const TokenSequences calibration, LoadCalibration(recipe, model_dir));

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
                          FakeQuantWriter::Create(model_dir, model.spec, *model.checkpoint,
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
  // Shard s of variant v is the worker's shard v·S + s (the driver's numbering).
  const int64_t num_shards =
      calibration.empty()
          ? 0
          : static_cast<int64_t>(
                ShardRanges(static_cast<int64_t>(calibration.size()), recipe.calibration.shards)
                    .size());
  const ShardLineage lineage = [&](int64_t shard, int64_t layer) -> absl::StatusOr<LayerWeights> {
    if (callbacks.checkpoints == nullptr) {
      return absl::FailedPreconditionError("the job keeps no block checkpoints to rebuild from");
    }
    std::vector<const PlannedBlock*> blocks;
    for (const JobVariant& variant : variants) blocks.push_back(&variant.plan->blocks[layer]);
    QUENCH_ASSIGN_OR_RETURN(std::vector<BlockResult> results,
                            callbacks.checkpoints->Load(layer, model.weights.Layer(layer), blocks));
    const size_t variant = static_cast<size_t>(shard / std::max<int64_t>(1, num_shards));
    if (variant >= results.size()) {
      return absl::InternalError(absl::StrCat("shard ", shard, " belongs to no variant"));
    }
    return std::move(results[variant].weights);
  };
  std::unique_ptr<ShardWorker> worker = callbacks.make_shard_worker
                                            ? callbacks.make_shard_worker(model.weights, lineage)
                                            : MakeLocalShardWorker(original);
  DriverOptions options;
  options.progress = callbacks.progress;
  options.cancelled = callbacks.cancelled;
  options.checkpoints = callbacks.checkpoints;
  QUENCH_ASSIGN_OR_RETURN(const std::vector<QuantizationOutcome> outcomes,
                          RunQuantizationJobVariants(model.spec, model.weights, variants, recipe,
                                                     calibration, *worker, options));
  // The shards' activations are done with: free them (on remote workers, release the job)
  // before the outputs are written and evaluated.
  worker.reset();
  const QuantizationOutcome& outcome = outcomes.front();
  const double quantize_seconds = SecondsSince(start);
  LocalJobResult result;
  std::vector<std::string>& exports = result.exports;
  for (size_t v = 0; v < solves.size(); ++v) {
    const auto artifact_path = out_dir / (v == 0 ? "quench.safetensors" : kGgufSolveArtifactName);
    for (const std::string& output : solves[v].exports) {
      QUENCH_RETURN_IF_ERROR(WriteExport(output, artifact_path, model.spec, *model.checkpoint,
                                         model_dir, out_dir, recipe.gguf.type));
      exports.push_back(output);
    }
  }
  const std::string recipe_yaml = RecipeToYaml(recipe);
  QUENCH_RETURN_IF_ERROR(WriteFileAtomically(out_dir / "recipe.yaml", recipe_yaml));

  nlohmann::ordered_json report;
  report["model"] = model_dir.string();
  report["recipe"] = recipe.name;
  report["method"] = std::string(QuantMethodName(recipe.method));
  report["weights"] = recipe.weights.ToString();
  report["calibration"] = {{"sequences", calibration.size()},
                           {"tokens", outcome.calibration_tokens},
                           {"shards", outcome.shards}};
  report["quantize_seconds"] = quantize_seconds;
  AddSizes(*model.checkpoint, solves, outcome.reports, out_dir, report);
  report["layers"] = LayersJson(outcome.reports);
  if (outcomes.size() > 1) report["gguf_layers"] = LayersJson(outcomes[1].reports);

  std::optional<ComparisonResult>& comparison = result.comparison;
  std::optional<ComparisonResult>& gguf_comparison = result.gguf_comparison;
  if (!recipe.evaluation.path.empty()) {
    const auto evaluate_start = std::chrono::steady_clock::now();
    DatasetOptions eval_options;
    eval_options.max_sequences = recipe.evaluation.max_sequences;
    eval_options.context = recipe.evaluation.seq_len > 0 ? recipe.evaluation.seq_len
                                                         : model.spec.max_position_embeddings;
    QUENCH_ASSIGN_OR_RETURN(TokenSequences eval_data,
                            LoadTokenData(recipe.evaluation.path, model_dir, eval_options));
    // The quantized model as written: evaluation reads it back one block at a time.
    const auto evaluate = [&](const std::filesystem::path& path,
                              const char* label) -> absl::StatusOr<ComparisonResult> {
      if (callbacks.cancelled && callbacks.cancelled()) {
        return absl::CancelledError("job cancelled");
      }
      QUENCH_ASSIGN_OR_RETURN(LoadedModel written, LoadModel(path, /*allow_gguf=*/true));
      Transformer quantized(written.spec, written.weights, *backend);
      PerplexityOptions perplexity_options;
      if (callbacks.eval_progress) {
        callbacks.eval_progress(label, 0, static_cast<int64_t>(eval_data.size()));
        perplexity_options.progress = [&](int64_t done, int64_t total) {
          callbacks.eval_progress(label, done, total);
        };
      }
      return CompareModels(original, quantized, eval_data, perplexity_options);
    };
    QUENCH_ASSIGN_OR_RETURN(comparison, evaluate(out_dir / "fake_quant", "evaluate"));
    report["evaluation"] = ComparisonJson(*comparison);
    if (outcomes.size() > 1) {
      QUENCH_ASSIGN_OR_RETURN(gguf_comparison, evaluate(out_dir / kGgufFileName, "evaluate gguf"));
      report["gguf_evaluation"] = ComparisonJson(*gguf_comparison);
    }
    report["evaluate_seconds"] = SecondsSince(evaluate_start);
  }
  report["total_seconds"] = SecondsSince(start);
  report["peak_rss_bytes"] = PeakResidentBytes();
  report["versions"] = {{"quench", kQuenchVersion}, {"report format", 1}};
  report["created_utc"] = UtcNow();
  QUENCH_RETURN_IF_ERROR(WriteFileAtomically(out_dir / kReportJsonName, report.dump(2) + "\n"));
  QUENCH_RETURN_IF_ERROR(
      WriteFileAtomically(out_dir / kReportHtmlName, RenderHtmlReport(report, recipe_yaml)));

  result.report = std::move(report);
  result.quantize_seconds = quantize_seconds;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(out_dir)) {
    if (entry.is_regular_file())
      result.files.push_back(std::filesystem::relative(entry.path(), out_dir).string());
  }
  std::sort(result.files.begin(), result.files.end());
  result.outcomes = std::move(outcomes);
  return result;
}

}  // namespace quench::worker
