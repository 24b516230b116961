#include "tests/job/job_test_support.h"

#include <gtest/gtest.h>

#include <random>

#include "core/export/quench_artifact.h"
#include "core/util/status_macros.h"
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
  CollectingSink collected;
  auto outcome = RunQuantizationJob(*spec, *weights, *plan, recipe, calibration, *worker,
                                    {&collected}, options);
  if (!outcome.ok()) {
    ADD_FAILURE() << outcome.status();
    return std::nullopt;
  }
  JobRun run{*spec, *checkpoint, *weights, std::move(*outcome), std::move(collected), std::nullopt};
  if (!evaluation.empty()) {
    Transformer quantized(run.spec, run.quantized.weights, *backend);
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

TokenSequences RandomSequences(int64_t vocab, int count, int length, unsigned seed) {
  std::mt19937 random(seed);
  TokenSequences sequences(count, std::vector<TokenId>(length));
  for (auto& sequence : sequences) {
    for (auto& id : sequence) id = static_cast<TokenId>(random() % vocab);
  }
  return sequences;
}

absl::Status ReplayInto(const JobRun& run, QuantizationSink& sink) {
  ModelWeights globals = run.quantized.weights;
  globals.layers.clear();
  const auto& embedding = run.quantized.embedding;
  QUENCH_RETURN_IF_ERROR(sink.Begin(globals, embedding ? &*embedding : nullptr));
  for (int64_t layer = 0; layer < run.spec.num_layers; ++layer) {
    std::vector<QuantizedLinear> linears;
    for (const auto& linear : run.quantized.linears) {
      if (linear.plan.layer == layer) linears.push_back(linear);
    }
    QUENCH_RETURN_IF_ERROR(sink.AddBlock(layer, run.quantized.weights.layers[layer], linears));
  }
  return sink.Finish();
}

absl::Status WriteQuenchArtifact(const JobRun& run, const std::filesystem::path& path) {
  QUENCH_ASSIGN_OR_RETURN(auto writer, QuenchArtifactWriter::Create(path, run.spec, {}));
  return ReplayInto(run, *writer);
}

}  // namespace quench::testing
