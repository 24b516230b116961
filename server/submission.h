// Turns a SubmitJobRequest into what a job runs: the model directory and the recipe, with every
// path the client named resolved under the model roots. Done once when the job is submitted
// (so bad input is INVALID_ARGUMENT before a job exists) and again when it runs.
#pragma once

#include <filesystem>

#include "absl/status/statusor.h"
#include "core/model/model_spec.h"
#include "core/recipe/recipe.h"
#include "quench/v1/jobs.pb.h"
#include "server/model_roots.h"

namespace quench::server {

struct PreparedJob {
  std::filesystem::path model_dir;
  ModelSpec spec;
  Recipe recipe;  // calibration/evaluation paths resolved; the request's overrides applied
};

absl::StatusOr<PreparedJob> PrepareJob(const v1::SubmitJobRequest& request,
                                       const ModelRoots& roots);

}  // namespace quench::server
