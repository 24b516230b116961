// `quench local quantize`: a whole quantization job in this process, submitted to an
// in-process coordinator with one in-process worker: the same path as a job on quenchd.
#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/job_format.h"
#include "client/job_watch.h"
#include "client/local_service.h"
#include "client/progress.h"
#include "core/recipe/recipe.h"
#include "core/util/status_macros.h"
#include "core/util/termination_signal.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace quench::cli {

namespace {

// The grids the linears got: one line when they share one (the usual recipe), counts per grid
// when they differ (overrides, GGUF mixtures such as Q4_K_M). `layers` is report.json's list.
std::string GridSummary(const nlohmann::json& layers) {
  std::map<std::string, int> counts;
  for (const auto& layer : layers) ++counts[layer.value("grid", "?")];
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
  std::string device = "cpu";
  bool json = false;
};

// One of report.json's evaluations ("evaluation", "gguf_evaluation").
void PrintComparison(const char* what, const nlohmann::json& c) {
  const double ppl = c.value("perplexity", 0.0), reference = c.value("reference_perplexity", 0.0);
  std::cout << absl::StrFormat(
      "%s on %d tokens: perplexity %.4f (original %.4f, %+.2f%%), KL %.5f nats, top-1 %.2f%%\n",
      what, c.value("tokens", int64_t{0}), ppl, reference, 100.0 * (ppl / reference - 1.0),
      c.value("kl_divergence", 0.0), 100.0 * c.value("top1_agreement", 0.0));
}

// The recipe as the job runs it, its data paths made absolute: the in-process coordinator
// resolves paths from the file system's root, as the user's shell would from here.
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
  for (std::string* path : {&recipe.calibration.path, &recipe.evaluation.path}) {
    if (!path->empty()) *path = std::filesystem::absolute(*path).lexically_normal().string();
  }
  return recipe;
}

void PrintSummary(const nlohmann::json& report, const v1::Job& job,
                  const std::filesystem::path& out_dir) {
  const nlohmann::json& layers = report["layers"];
  std::cout << absl::StrFormat(
      "%s: %d linears quantized (%s) in %.2f s; %d calibration tokens in %d shards\n",
      report.value("recipe", ""), layers.size(), GridSummary(layers),
      report.value("quantize_seconds", 0.0), report["calibration"].value("tokens", int64_t{0}),
      report["calibration"].value("shards", int64_t{0}));
  // The layers that lost the most, first.
  std::vector<const nlohmann::json*> worst;
  for (const auto& layer : layers) worst.push_back(&layer);
  std::sort(worst.begin(), worst.end(), [](const auto* a, const auto* b) {
    return a->value("relative_output_error", 0.0) > b->value("relative_output_error", 0.0);
  });
  std::cout << "largest relative output errors:\n";
  for (size_t i = 0; i < std::min<size_t>(5, worst.size()); ++i) {
    std::cout << absl::StrFormat("  %-48s %.3e\n", worst[i]->value("name", ""),
                                 worst[i]->value("relative_output_error", 0.0));
  }
  if (report.contains("gguf_layers")) {
    std::cout << absl::StrFormat("and, in the same pass, for the gguf output: %d linears (%s)\n",
                                 report["gguf_layers"].size(), GridSummary(report["gguf_layers"]));
  }
  if (report.contains("evaluation")) PrintComparison("evaluation", report["evaluation"]);
  if (report.contains("gguf_evaluation")) {
    PrintComparison("evaluation of model.gguf", report["gguf_evaluation"]);
  }
  // What the job wrote, a directory once.
  std::vector<std::string> written;
  for (const v1::Artifact& artifact : job.artifacts()) {
    const std::string& name = artifact.name();
    const size_t slash = name.find('/');
    const std::string entry =
        (out_dir / name.substr(0, slash)).string() + (slash == std::string::npos ? "" : "/");
    if (std::find(written.begin(), written.end(), entry) == written.end()) written.push_back(entry);
  }
  std::cout << "wrote " << absl::StrJoin(written, ", ") << "\n";
}

// Ctrl-C (or SIGTERM) while the job runs cancels it; the watch then ends with CANCELLED.
class CancelOnSignal {
 public:
  CancelOnSignal(LocalService& service, std::string job_id)
      : thread_([this, &service, job_id] {
          while (!done_) {
            if (WaitForTerminationSignalFor(0.2) == 0) continue;
            v1::CancelJobRequest request;
            request.set_job_id(job_id);
            (void)CallJobService(service.stub(), service.connection(),
                                 &v1::JobService::Stub::CancelJob, request);
            return;
          }
        }) {}
  ~CancelOnSignal() {
    done_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

absl::Status Run(const QuantizeFlags& flags) {
  QUENCH_ASSIGN_OR_RETURN(const Recipe recipe, ResolveRecipe(flags));
  QUENCH_ASSIGN_OR_RETURN(const worker::WorkerDevice device,
                          worker::ParseWorkerDevice(flags.device));
  const std::filesystem::path out_dir = std::filesystem::absolute(flags.out).lexically_normal();
  v1::SubmitJobRequest request;
  request.mutable_model()->set_local_path(
      std::filesystem::absolute(flags.model).lexically_normal().string());
  request.set_recipe(RecipeToYaml(recipe));

  // The coordinator's and worker's log lines are for daemons; here the progress bar speaks.
  spdlog::set_level(spdlog::level::warn);
  // Signals go to the thread that waits for them, not to gRPC's or the worker's threads.
  BlockTerminationSignals();
  // The private store lives in the output directory, so its artifacts move into place by rename.
  QUENCH_ASSIGN_OR_RETURN(std::unique_ptr<LocalService> service,
                          LocalService::Start(out_dir / ".quench-local", device));
  QUENCH_ASSIGN_OR_RETURN(const v1::SubmitJobResponse submitted,
                          CallJobService(service->stub(), service->connection(),
                                         &v1::JobService::Stub::SubmitJob, request));
  const std::string& job_id = submitted.job().job_id();

  ProgressReporter progress("quantize", "blocks", !flags.json);
  absl::StatusOr<v1::Job> job;
  {
    CancelOnSignal cancel_on_signal(*service, job_id);
    job = WatchUntilDone(
        service->stub(), service->connection(), job_id,
        [&](const v1::WatchJobResponse& event) {
          const v1::Job& now = event.job();
          if (now.total_blocks() > 0 && !IsTerminal(now.state())) {
            progress.Update(now.finished_blocks(), now.total_blocks(),
                            event.message().empty() ? now.message() : event.message(),
                            event.eta_s());
          }
        },
        [](const std::string&) {});
  }
  progress.Finish();
  QUENCH_RETURN_IF_ERROR(job.status());
  if (job->state() == v1::JOB_STATE_CANCELLED)
    return absl::CancelledError("interrupted; nothing written");
  if (job->state() != v1::JOB_STATE_SUCCEEDED) return absl::InternalError(job->message());
  for (const v1::Artifact& artifact : job->artifacts()) {
    QUENCH_RETURN_IF_ERROR(
        service->TakeArtifact(job_id, artifact.name(), out_dir / artifact.name()));
  }
  const std::optional<nlohmann::ordered_json> report = ParseReport(*job);
  if (!report) return absl::DataLossError("the job finished without a report");
  if (flags.json) {
    std::cout << report->dump(2) << "\n";
  } else {
    PrintSummary(*report, *job, out_dir);
  }
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
      "--out /tmp/q\n\n"
      "The job runs through an in-process coordinator and worker (the same code as quenchd with "
      "one quench-worker), so its files are byte-identical to a service job's. Ctrl-C cancels it "
      "and leaves nothing in --out (exit code 130).");
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
  cmd->add_option("--device", flags->device,
                  "Where the in-process worker computes: cpu, or cuda:N (a CUDA build with a "
                  "GPU; the bytes then differ from a CPU run's)")
      ->capture_default_str();
  cmd->add_flag("--json", flags->json, "Print report.json instead of a summary; no progress");
  cmd->callback([flags, &exit_code, recipe, preset] {
    if (recipe->count() == 0 && preset->count() == 0) {
      throw CLI::ValidationError("local quantize", "give --recipe FILE or --preset NAME");
    }
    if (const auto status = Run(*flags); !status.ok()) {
      // Interrupted (Ctrl-C, SIGTERM): the shell's 128 + SIGINT.
      exit_code = ReportError("local quantize", status, absl::IsCancelled(status) ? 130 : 1);
    }
  });
}

}  // namespace quench::cli
