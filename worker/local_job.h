// A whole quantization job on this machine, in one process: plan the solves the recipe's
// outputs need, calibrate and solve block by block, write every output and evaluate. What
// quenchd's runners (and so `quench local quantize`, through its in-process coordinator) run for
// a job; the shards live wherever `make_shard_worker` puts them.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/eval/compare.h"
#include "core/job/quantization_driver.h"
#include "core/recipe/recipe.h"
#include "nlohmann/json.hpp"

namespace quench::worker {

struct LocalJobCallbacks {
  // Blocks done while quantizing.
  std::function<void(const DriverProgress&)> progress;
  // Sequences done while evaluating `label` ("evaluate", "evaluate gguf"); 0/total first,
  // done == total last.
  std::function<void(const std::string& label, int64_t done, int64_t total)> eval_progress;
  // Polled between blocks, solves and phases: true stops the job with CANCELLED.
  std::function<bool()> cancelled;
  // Where the calibration shards live; unset: in this process (MakeLocalShardWorker).
  // `lineage` gives a finished block's weights from `checkpoints` (an error without them), for
  // rebuilding a shard that was lost with its worker.
  std::function<std::unique_ptr<ShardWorker>(const ModelWeights& original, ShardLineage lineage)>
      make_shard_worker;
  // Where finished blocks are saved, and a job run again resumes; null: nothing is saved.
  BlockCheckpoints* checkpoints = nullptr;
};

struct LocalJobResult {
  nlohmann::ordered_json report;                    // also written to <out>/report.json
  std::vector<QuantizationOutcome> outcomes;        // primary solve first (see PlanOutputSolves)
  std::vector<std::string> exports;                 // checkpoint outputs written
  std::optional<ComparisonResult> comparison;       // fake_quant/ against the original
  std::optional<ComparisonResult> gguf_comparison;  // model.gguf, when solved separately
  double quantize_seconds = 0.0;
  // Every file the job wrote, relative to the output directory, sorted.
  std::vector<std::string> files;
};

absl::StatusOr<LocalJobResult> RunLocalJob(const std::filesystem::path& model_dir,
                                           const Recipe& recipe,
                                           const std::filesystem::path& out_dir,
                                           const LocalJobCallbacks& callbacks = {});

}  // namespace quench::worker
