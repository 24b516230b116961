#include "core/model/testgen.h"

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "core/io/safetensors_writer.h"
#include "core/model/model_spec.h"
#include "core/util/atomic_file.h"
#include "core/util/status_macros.h"
#include "nlohmann/json.hpp"

namespace quench {

std::string LlamaConfigJson(int64_t hidden, int64_t intermediate, int64_t layers, int64_t heads,
                            int64_t kv_heads, int64_t vocab, int64_t context) {
  nlohmann::ordered_json config = {{"architectures", {"LlamaForCausalLM"}},
                                   {"model_type", "llama"},
                                   {"hidden_size", hidden},
                                   {"intermediate_size", intermediate},
                                   {"num_hidden_layers", layers},
                                   {"num_attention_heads", heads},
                                   {"num_key_value_heads", kv_heads},
                                   {"vocab_size", vocab},
                                   {"max_position_embeddings", context},
                                   {"rms_norm_eps", 1e-5},
                                   {"rope_theta", 10000.0},
                                   {"hidden_act", "silu"},
                                   {"tie_word_embeddings", false},
                                   {"bos_token_id", 1},
                                   {"eos_token_id", 2},
                                   {"torch_dtype", "float32"}};
  return config.dump(2);
}

absl::Status WriteSyntheticModel(const std::filesystem::path& dir, const std::string& config_json,
                                 const TestgenOptions& options) {
  QUENCH_ASSIGN_OR_RETURN(const ModelSpec spec, ParseModelSpec(config_json, "testgen config.json"));
  if (!IsFloatingPoint(options.dtype) || options.dtype == DType::kF8E4M3) {
    return absl::InvalidArgumentError("testgen: --dtype must be F32, F16 or BF16");
  }
  std::mt19937_64 random(options.seed);
  const int64_t hidden = spec.hidden_size;
  // Outlier channels: fixed per model, so every norm scales the same features up.
  std::vector<int64_t> outliers;
  for (int i = 0; i < options.outlier_channels && i < hidden; ++i) {
    outliers.push_back(static_cast<int64_t>(random() % static_cast<uint64_t>(hidden)));
  }
  std::vector<SafetensorsTensorSpec> specs;
  std::vector<std::function<void(float*, int64_t)>> fills;
  auto add = [&](const std::string& name, Shape shape, std::function<void(float*, int64_t)> fill) {
    specs.push_back({name, options.dtype, std::move(shape)});
    fills.push_back(std::move(fill));
  };
  auto normal = [&](float spread) {
    return [&, spread](float* values, int64_t count) {
      std::normal_distribution<float> distribution(0.0f, spread);
      for (int64_t i = 0; i < count; ++i) values[i] = distribution(random);
    };
  };
  auto norm_weight = [&](float* values, int64_t count) {
    std::normal_distribution<float> distribution(1.0f, 0.05f);
    for (int64_t i = 0; i < count; ++i) values[i] = distribution(random);
    for (int64_t channel : outliers) values[channel] *= options.outlier_scale;
  };
  add(spec.EmbeddingName(), {spec.vocab_size, hidden}, normal(1.0f));
  if (spec.positions == PositionKind::kLearned) {
    add(spec.PositionEmbeddingName(),
        {spec.max_position_embeddings + spec.learned_position_offset, hidden}, normal(0.1f));
  }
  for (int64_t layer = 0; layer < spec.num_layers; ++layer) {
    add(spec.AttentionNormName(layer), {hidden}, norm_weight);
    if (spec.norm_bias) add(spec.AttentionNormName(layer, "bias"), {hidden}, normal(0.02f));
    add(spec.MlpNormName(layer), {hidden}, norm_weight);
    if (spec.norm_bias) add(spec.MlpNormName(layer, "bias"), {hidden}, normal(0.02f));
    for (LinearRole role : kAllLinearRoles) {
      if (!spec.HasLinear(role)) continue;
      const auto [out, in] = spec.LinearShape(role);
      // Scaled so activations keep their size through the residual stream.
      add(spec.LinearName(layer, role), {out, in},
          normal(0.5f / std::sqrt(static_cast<float>(in * spec.num_layers))));
      if (spec.LinearHasBias(role)) add(spec.LinearName(layer, role, "bias"), {out}, normal(0.02f));
    }
  }
  if (spec.norm_before_sublayer) {
    add(spec.FinalNormName(), {hidden}, norm_weight);
    if (spec.norm_bias) add(spec.FinalNormName("bias"), {hidden}, normal(0.02f));
  }
  if (!spec.tie_word_embeddings) add(spec.LmHeadName(), {spec.vocab_size, hidden}, normal(0.05f));

  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::PermissionDeniedError(absl::StrCat(dir.string(), ": ", error.message()));
  QUENCH_RETURN_IF_ERROR(WriteFileAtomically(dir / "config.json", config_json));
  QUENCH_ASSIGN_OR_RETURN(auto writer,
                          SafetensorsWriter::Create(dir / "model.safetensors", specs,
                                                    {{"format", "pt"}, {"quench", "testgen"}}));
  // One tensor at a time: memory stays at the largest tensor, whatever the model size.
  for (size_t i = 0; i < specs.size(); ++i) {
    Tensor values = Tensor::Zeros(DType::kF32, specs[i].shape);
    fills[i](values.mutable_data<float>(), values.num_elements());
    Tensor stored = Tensor::Zeros(options.dtype, specs[i].shape);
    ConvertFromFloat(values.data<float>(), options.dtype, stored.mutable_data<uint8_t>(),
                     static_cast<size_t>(values.num_elements()));
    QUENCH_RETURN_IF_ERROR(writer.Append(stored.bytes()));
  }
  return writer.Finish();
}

}  // namespace quench
