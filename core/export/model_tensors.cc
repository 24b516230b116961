#include "core/export/model_tensors.h"

namespace quench {

std::map<std::string, Tensor> NamedModelTensors(const ModelSpec& spec,
                                                const ModelWeights& weights) {
  std::map<std::string, Tensor> named;
  auto add = [&](const std::string& name, const Tensor& tensor) {
    if (!tensor.empty()) named[name] = tensor;
  };
  add(spec.EmbeddingName(), weights.embedding);
  if (spec.positions == PositionKind::kLearned)
    add(spec.PositionEmbeddingName(), weights.position_embedding);
  add(spec.FinalNormName(), weights.final_norm_weight);
  add(spec.FinalNormName("bias"), weights.final_norm_bias);
  add(spec.LmHeadName(), weights.lm_head);
  for (int64_t layer = 0; layer < static_cast<int64_t>(weights.layers.size()); ++layer) {
    const LayerWeights& lw = weights.layers[layer];
    add(spec.AttentionNormName(layer), lw.attention_norm_weight);
    add(spec.AttentionNormName(layer, "bias"), lw.attention_norm_bias);
    add(spec.MlpNormName(layer), lw.mlp_norm_weight);
    add(spec.MlpNormName(layer, "bias"), lw.mlp_norm_bias);
    for (LinearRole role : kAllLinearRoles) {
      if (!spec.HasLinear(role)) continue;
      add(spec.LinearName(layer, role), lw.linear(role).weight);
      add(spec.LinearName(layer, role, "bias"), lw.linear(role).bias);
    }
  }
  return named;
}

}  // namespace quench
