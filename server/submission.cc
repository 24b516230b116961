#include "server/submission.h"

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace quench::server {
namespace {

// The status with `what` in front of its message, code kept.
absl::Status Prefixed(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

absl::Status ResolveDataPath(const ModelRoots& roots, const std::string& requested,
                             const std::string& override_path, const char* what,
                             std::string& path) {
  const std::string& chosen = override_path.empty() ? requested : override_path;
  if (chosen.empty()) {
    path.clear();
    return absl::OkStatus();
  }
  auto resolved = roots.Resolve(chosen);
  if (!resolved.ok()) return Prefixed(resolved.status(), what);
  path = resolved->string();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PreparedJob> PrepareJob(const v1::SubmitJobRequest& request,
                                       const ModelRoots& roots) {
  if (!request.model().has_local_path() || request.model().local_path().empty()) {
    return absl::InvalidArgumentError(
        "model.local_path is required: a directory under a model root");
  }
  PreparedJob job;
  auto model_dir = roots.Resolve(request.model().local_path());
  if (!model_dir.ok()) return Prefixed(model_dir.status(), "model");
  job.model_dir = *model_dir;
  auto spec = LoadModelSpec(job.model_dir);
  if (!spec.ok())
    return absl::InvalidArgumentError(absl::StrCat("model: ", spec.status().message()));
  job.spec = std::move(*spec);

  if (!request.recipe().empty() && !request.preset().empty()) {
    return absl::InvalidArgumentError("give recipe or preset, not both");
  }
  absl::StatusOr<Recipe> recipe =
      !request.recipe().empty()   ? ParseRecipe(request.recipe(), "recipe")
      : !request.preset().empty() ? LoadPreset(request.preset())
                                  : absl::InvalidArgumentError(
                                        "give a recipe (YAML or JSON text) or a preset name "
                                        "(`quench recipe list`)");
  if (!recipe.ok()) return absl::InvalidArgumentError(recipe.status().message());
  job.recipe = std::move(*recipe);

  QUENCH_RETURN_IF_ERROR(ResolveDataPath(roots, job.recipe.calibration.path,
                                         request.calibration_path(), "calibration data",
                                         job.recipe.calibration.path));
  QUENCH_RETURN_IF_ERROR(ResolveDataPath(roots, job.recipe.evaluation.path,
                                         request.evaluation_path(), "evaluation data",
                                         job.recipe.evaluation.path));
  if (request.calibration_shards() < 0) {
    return absl::InvalidArgumentError("calibration_shards must be positive (0: the recipe's)");
  }
  if (request.calibration_shards() > 0)
    job.recipe.calibration.shards = request.calibration_shards();
  if (auto valid = job.recipe.Validate(); !valid.ok()) {
    return absl::InvalidArgumentError(valid.message());
  }
  return job;
}

}  // namespace quench::server
