#include "core/export/model_tensors.h"

namespace quench {
namespace {

void AddNonEmpty(std::map<std::string, Tensor>& named, const std::string& name,
                 const Tensor& tensor) {
  if (!tensor.empty()) named[name] = tensor;
}

}  // namespace

std::map<std::string, Tensor> NamedGlobalTensors(const ModelSpec& spec,
                                                 const ModelWeights& weights) {
  std::map<std::string, Tensor> named;
  AddNonEmpty(named, spec.EmbeddingName(), weights.embedding);
  if (spec.positions == PositionKind::kLearned)
    AddNonEmpty(named, spec.PositionEmbeddingName(), weights.position_embedding);
  AddNonEmpty(named, spec.FinalNormName(), weights.final_norm_weight);
  AddNonEmpty(named, spec.FinalNormName("bias"), weights.final_norm_bias);
  AddNonEmpty(named, spec.LmHeadName(), weights.lm_head);
  return named;
}

std::map<std::string, Tensor> NamedLayerTensors(const ModelSpec& spec, int64_t layer,
                                                const LayerWeights& weights) {
  std::map<std::string, Tensor> named;
  AddNonEmpty(named, spec.AttentionNormName(layer), weights.attention_norm_weight);
  AddNonEmpty(named, spec.AttentionNormName(layer, "bias"), weights.attention_norm_bias);
  AddNonEmpty(named, spec.MlpNormName(layer), weights.mlp_norm_weight);
  AddNonEmpty(named, spec.MlpNormName(layer, "bias"), weights.mlp_norm_bias);
  for (LinearRole role : kAllLinearRoles) {
    if (!spec.HasLinear(role)) continue;
    AddNonEmpty(named, spec.LinearName(layer, role), weights.linear(role).weight);
    AddNonEmpty(named, spec.LinearName(layer, role, "bias"), weights.linear(role).bias);
  }
  return named;
}

std::map<std::string, Tensor> NamedModelTensors(const ModelSpec& spec,
                                                const ModelWeights& weights) {
  std::map<std::string, Tensor> named = NamedGlobalTensors(spec, weights);
  for (int64_t layer = 0; layer < spec.num_layers; ++layer)
    named.merge(NamedLayerTensors(spec, layer, weights.Layer(layer)));
  return named;
}

}  // namespace quench
