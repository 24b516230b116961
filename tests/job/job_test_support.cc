#include "tests/job/job_test_support.h"

#include <gtest/gtest.h>

#include "kernels/cpu/cpu_backend.h"

namespace quench::testing {

std::optional<JobRun> RunJob(const std::filesystem::path& model_dir, const Recipe& recipe,
                             const TokenSequences& calibration, const TokenSequences& evaluation,
                             const DriverOptions& options) {
  auto spec = LoadModelSpec(model_dir);
  auto checkpoint = spec.ok() ? Checkpoint::Open(model_dir) : spec.status();
  if (!checkpoint.ok()) {
    ADD_FAILURE() << checkpoint.status();
    return std::nullopt;
  }
  auto weights = LoadModelWeights(*spec, *checkpoint);
  auto plan = weights.ok() ? MakeQuantPlan(*spec, recipe) : weights.status();
  if (!plan.ok()) {
    ADD_FAILURE() << plan.status();
    return std::nullopt;
  }
  auto backend = kernels::MakeCpuBackend();
  Transformer original(*spec, *weights, *backend);
  auto worker = MakeLocalShardWorker(original);
  auto outcome = RunQuantizationJob(*spec, *weights, *plan, recipe, calibration, *worker, options);
  if (!outcome.ok()) {
    ADD_FAILURE() << outcome.status();
    return std::nullopt;
  }
  JobRun run{*spec, *checkpoint, *weights, std::move(*outcome), std::nullopt};
  if (!evaluation.empty()) {
    Transformer quantized(run.spec, run.outcome.weights, *backend);
    Transformer reference(run.spec, run.original, *backend);
    auto comparison = CompareModels(reference, quantized, evaluation);
    if (!comparison.ok()) {
      ADD_FAILURE() << comparison.status();
      return std::nullopt;
    }
    run.comparison = *comparison;
  }
  return run;
}

}  // namespace quench::testing
