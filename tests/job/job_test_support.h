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
  std::optional<ComparisonResult> comparison;
};

// Fails the calling test (ADD_FAILURE) and returns nullopt on an error.
std::optional<JobRun> RunJob(const std::filesystem::path& model_dir, const Recipe& recipe,
                             const TokenSequences& calibration, const TokenSequences& evaluation,
                             const DriverOptions& options = {});

}  // namespace quench::testing
