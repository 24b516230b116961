// Runs a whole quantization job in-process for tests: model, recipe, calibration in; the
// outcome and (optionally) the original/quantized comparison out.
#pragma once

#include <filesystem>
#include <optional>

#include "core/eval/compare.h"
#include "core/io/checkpoint.h"
#include "core/job/quantization_driver.h"
#include "core/recipe/recipe.h"

namespace quench::testing {

struct JobRun {
  ModelSpec spec;
  Checkpoint checkpoint;
  ModelWeights original;
  QuantizationOutcome outcome;
  CollectingSink quantized;  // everything the job produced, in memory
  std::optional<ComparisonResult> comparison;
};

// Fails the calling test (ADD_FAILURE) and returns nullopt on an error.
std::optional<JobRun> RunJob(const std::filesystem::path& model_dir, const Recipe& recipe,
                             const TokenSequences& calibration, const TokenSequences& evaluation,
                             const DriverOptions& options = {});

// `count` sequences of `length` token ids drawn uniformly below `vocab` (std::mt19937(seed)).
TokenSequences RandomSequences(int64_t vocab, int count, int length, unsigned seed);

// Replays a run's results into `sink` as the driver hands them over: globals, blocks in order.
absl::Status ReplayInto(const JobRun& run, QuantizationSink& sink);

// Replays a run's results through a QuenchArtifactWriter.
absl::Status WriteQuenchArtifact(const JobRun& run, const std::filesystem::path& path);

}  // namespace quench::testing
