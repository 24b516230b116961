#include "core/model/model_weights.h"
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"
#include "core/util/check.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

// Checks that `name` exists with exactly `shape` and a floating-point dtype, without reading it.
absl::Status CheckFloat(const Checkpoint& checkpoint, const std::string& name, const Shape& shape) {
  const SafetensorsEntry* entry = checkpoint.FindEntry(name);
  if (entry == nullptr) return checkpoint.Get(name).status();  // the NotFound message
  if (entry->shape != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        checkpoint.path().string(), ": tensor '", name, "' has shape ", ShapeToString(entry->shape),
        " but config.json implies ", ShapeToString(shape)));
  }
  if (!IsFloatingPoint(entry->dtype)) {
    return absl::InvalidArgumentError(absl::StrCat(checkpoint.path().string(), ": tensor '", name,
                                                   "' has integer dtype ", DTypeName(entry->dtype),
                                                   "; expected a floating-point checkpoint"));
  }
  return absl::OkStatus();
}

// Loads `name` as fp32 with exactly `shape`. fp32 data that is suitably aligned in the
// mapping is used in place; anything else is converted into a new tensor.
absl::StatusOr<Tensor> LoadFloat(const Checkpoint& checkpoint, const std::string& name,
                                 const Shape& shape) {
  QUENCH_RETURN_IF_ERROR(CheckFloat(checkpoint, name, shape));
  QUENCH_ASSIGN_OR_RETURN(Tensor tensor, checkpoint.Get(name));
  const bool aligned = reinterpret_cast<uintptr_t>(tensor.raw_data()) % alignof(float) == 0;
  if (tensor.dtype() == DType::kF32 && aligned) return tensor;
  return tensor.ToFloat32();
}

absl::StatusOr<Tensor> LoadOptional(const Checkpoint& checkpoint, bool wanted,
                                    const std::string& name, const Shape& shape) {
  if (!wanted) return Tensor();
  return LoadFloat(checkpoint, name, shape);
}

// Every parameter of block `layer` with its expected shape and the field it fills; `wanted` is
// false for one the architecture lacks (a bias).
struct LayerTensor {
  std::string name;
  Shape shape;
  bool wanted;
  Tensor LayerWeights::*norm = nullptr;  // the norm field it fills, or null for a linear
  LinearRole role = LinearRole::kQ;
  bool bias = false;
};

std::vector<LayerTensor> LayerTensors(const ModelSpec& spec, int64_t layer) {
  const int64_t hidden = spec.hidden_size;
  std::vector<LayerTensor> tensors = {
      {spec.AttentionNormName(layer), {hidden}, true, &LayerWeights::attention_norm_weight},
      {spec.AttentionNormName(layer, "bias"),
       {hidden},
       spec.norm_bias,
       &LayerWeights::attention_norm_bias},
      {spec.MlpNormName(layer), {hidden}, true, &LayerWeights::mlp_norm_weight},
      {spec.MlpNormName(layer, "bias"), {hidden}, spec.norm_bias, &LayerWeights::mlp_norm_bias},
  };
  for (LinearRole role : kAllLinearRoles) {
    if (!spec.HasLinear(role)) continue;
    const auto [out, in] = spec.LinearShape(role);
    tensors.push_back({spec.LinearName(layer, role), {out, in}, true, nullptr, role, false});
    tensors.push_back({spec.LinearName(layer, role, "bias"),
                       {out},
                       spec.LinearHasBias(role),
                       nullptr,
                       role,
                       true});
  }
  return tensors;
}

}  // namespace

absl::StatusOr<LayerWeights> LoadLayerWeights(const ModelSpec& spec, const Checkpoint& checkpoint,
                                              int64_t layer) {
  LayerWeights weights;
  for (const LayerTensor& t : LayerTensors(spec, layer)) {
    QUENCH_ASSIGN_OR_RETURN(Tensor tensor, LoadOptional(checkpoint, t.wanted, t.name, t.shape));
    if (t.norm != nullptr) {
      weights.*t.norm = std::move(tensor);
    } else if (t.bias) {
      weights.linear(t.role).bias = std::move(tensor);
    } else {
      weights.linear(t.role).weight = std::move(tensor);
    }
  }
  return weights;
}

LayerWeights ModelWeights::Layer(int64_t layer) const {
  LayerWeights weights;
  if (!layers.empty()) {
    weights = layers.at(static_cast<size_t>(layer));
  } else {
    QUENCH_CHECK(load_layer != nullptr);
    weights = load_layer(layer);
  }
  weights.index = layer;
  return weights;
}

absl::StatusOr<ModelWeights> LoadModelWeights(const ModelSpec& spec, const Checkpoint& checkpoint,
                                              LayerResidency residency) {
  ModelWeights weights;
  const int64_t hidden = spec.hidden_size;
  QUENCH_ASSIGN_OR_RETURN(weights.embedding,
                          LoadFloat(checkpoint, spec.EmbeddingName(), {spec.vocab_size, hidden}));
  if (spec.positions == PositionKind::kLearned) {
    QUENCH_ASSIGN_OR_RETURN(
        weights.position_embedding,
        LoadFloat(checkpoint, spec.PositionEmbeddingName(),
                  {spec.max_position_embeddings + spec.learned_position_offset, hidden}));
  }
  const bool has_final_norm = spec.norm_before_sublayer;
  QUENCH_ASSIGN_OR_RETURN(weights.final_norm_weight,
                          LoadOptional(checkpoint, has_final_norm, spec.FinalNormName(), {hidden}));
  QUENCH_ASSIGN_OR_RETURN(weights.final_norm_bias,
                          LoadOptional(checkpoint, has_final_norm && spec.norm_bias,
                                       spec.FinalNormName("bias"), {hidden}));
  if (checkpoint.Contains(spec.LmHeadName())) {
    QUENCH_ASSIGN_OR_RETURN(weights.lm_head,
                            LoadFloat(checkpoint, spec.LmHeadName(), {spec.vocab_size, hidden}));
  } else if (spec.tie_word_embeddings) {
    weights.lm_head = weights.embedding;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(checkpoint.path().string(), ": no '", spec.LmHeadName(),
                     "' and config.json does not set tie_word_embeddings"));
  }

  if (residency == LayerResidency::kResident) {
    for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
      QUENCH_ASSIGN_OR_RETURN(LayerWeights lw, LoadLayerWeights(spec, checkpoint, layer));
      weights.layers.push_back(std::move(lw));
    }
    return weights;
  }
  // Everything is checked now, so a later load can only fail on a broken invariant.
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    for (const LayerTensor& t : LayerTensors(spec, layer)) {
      if (t.wanted) QUENCH_RETURN_IF_ERROR(CheckFloat(checkpoint, t.name, t.shape));
    }
  }
  weights.load_layer = [spec, checkpoint](int64_t layer) {
    auto loaded = LoadLayerWeights(spec, checkpoint, layer);
    QUENCH_CHECK(loaded.ok());
    return *std::move(loaded);
  };
  return weights;
}

}  // namespace quench
