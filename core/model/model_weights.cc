#include "core/model/model_weights.h"
#include "absl/strings/string_view.h"

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace quench {
namespace {

// Loads `name` as fp32 with exactly `shape`. fp32 data that is suitably aligned in the
// mapping is used in place; anything else is converted into a new tensor.
absl::StatusOr<Tensor> LoadFloat(const Checkpoint& checkpoint, const std::string& name,
                                 const Shape& shape) {
  QUENCH_ASSIGN_OR_RETURN(Tensor tensor, checkpoint.Get(name));
  if (tensor.shape() != shape) {
    return absl::InvalidArgumentError(absl::StrCat(
        checkpoint.path().string(), ": tensor '", name, "' has shape ",
        ShapeToString(tensor.shape()), " but config.json implies ", ShapeToString(shape)));
  }
  if (!IsFloatingPoint(tensor.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat(checkpoint.path().string(), ": tensor '", name, "' has integer dtype ",
                     DTypeName(tensor.dtype()), "; expected a floating-point checkpoint"));
  }
  const bool aligned = reinterpret_cast<uintptr_t>(tensor.raw_data()) % alignof(float) == 0;
  if (tensor.dtype() == DType::kF32 && aligned) return tensor;
  return tensor.ToFloat32();
}

absl::StatusOr<Tensor> LoadOptional(const Checkpoint& checkpoint, bool wanted,
                                    const std::string& name, const Shape& shape) {
  if (!wanted) return Tensor();
  return LoadFloat(checkpoint, name, shape);
}

}  // namespace

absl::StatusOr<ModelWeights> LoadModelWeights(const ModelSpec& spec, const Checkpoint& checkpoint) {
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

  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    LayerWeights& lw = weights.layers.emplace_back();
    QUENCH_ASSIGN_OR_RETURN(lw.attention_norm_weight,
                            LoadFloat(checkpoint, spec.AttentionNormName(layer), {hidden}));
    QUENCH_ASSIGN_OR_RETURN(
        lw.attention_norm_bias,
        LoadOptional(checkpoint, spec.norm_bias, spec.AttentionNormName(layer, "bias"), {hidden}));
    QUENCH_ASSIGN_OR_RETURN(lw.mlp_norm_weight,
                            LoadFloat(checkpoint, spec.MlpNormName(layer), {hidden}));
    QUENCH_ASSIGN_OR_RETURN(
        lw.mlp_norm_bias,
        LoadOptional(checkpoint, spec.norm_bias, spec.MlpNormName(layer, "bias"), {hidden}));
    for (LinearRole role : kAllLinearRoles) {
      if (!spec.HasLinear(role)) continue;
      const auto [out, in] = spec.LinearShape(role);
      LinearWeights& linear = lw.linear(role);
      QUENCH_ASSIGN_OR_RETURN(linear.weight,
                              LoadFloat(checkpoint, spec.LinearName(layer, role), {out, in}));
      QUENCH_ASSIGN_OR_RETURN(linear.bias,
                              LoadOptional(checkpoint, spec.LinearHasBias(role),
                                           spec.LinearName(layer, role, "bias"), {out}));
    }
  }
  return weights;
}

}  // namespace quench
