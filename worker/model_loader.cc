#include "worker/model_loader.h"

#include "absl/strings/str_cat.h"
#include "core/gguf/gguf_model_reader.h"
#include "core/util/status_macros.h"

namespace quench::worker {

namespace {

absl::StatusOr<LoadedModel> LoadGguf(const std::filesystem::path& path) {
  QUENCH_ASSIGN_OR_RETURN(GgufFile file, GgufFile::Open(path));
  auto shared = std::make_shared<const GgufFile>(std::move(file));
  QUENCH_ASSIGN_OR_RETURN(ModelSpec spec, ReadGgufModelSpec(*shared));
  QUENCH_ASSIGN_OR_RETURN(ModelWeights weights, LoadGgufWeights(spec, shared));
  return LoadedModel{std::move(spec), std::nullopt, std::move(weights)};
}

}  // namespace

absl::StatusOr<LoadedModel> LoadModel(const std::filesystem::path& model_dir, bool allow_gguf) {
  std::error_code error;
  if (allow_gguf && model_dir.extension() == ".gguf" &&
      std::filesystem::is_regular_file(model_dir, error)) {
    return LoadGguf(model_dir);
  }
  if (!std::filesystem::is_directory(model_dir, error)) {
    return absl::NotFoundError(absl::StrCat(
        model_dir.string(), ": not a model directory (expected config.json and *.safetensors",
        allow_gguf ? ", or a .gguf file" : "", ")"));
  }
  QUENCH_ASSIGN_OR_RETURN(ModelSpec spec, LoadModelSpec(model_dir));
  QUENCH_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(model_dir));
  QUENCH_ASSIGN_OR_RETURN(ModelWeights weights,
                          LoadModelWeights(spec, checkpoint, LayerResidency::kOnDemand));
  return LoadedModel{std::move(spec), std::move(checkpoint), std::move(weights)};
}

}  // namespace quench::worker
