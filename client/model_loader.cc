#include "client/model_loader.h"

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace quench::cli {

absl::StatusOr<LoadedModel> LoadModel(const std::filesystem::path& model_dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(model_dir, error)) {
    return absl::NotFoundError(absl::StrCat(
        model_dir.string(), ": not a model directory (expected config.json and *.safetensors)"));
  }
  QUENCH_ASSIGN_OR_RETURN(ModelSpec spec, LoadModelSpec(model_dir));
  QUENCH_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(model_dir));
  QUENCH_ASSIGN_OR_RETURN(ModelWeights weights,
                          LoadModelWeights(spec, checkpoint, LayerResidency::kOnDemand));
  return LoadedModel{std::move(spec), std::move(checkpoint), std::move(weights)};
}

}  // namespace quench::cli
