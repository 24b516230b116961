#include "tests/core/synthetic_model.h"

#include <gtest/gtest.h>

#include <random>

#include "core/io/safetensors_writer.h"
#include "core/model/model_spec.h"
#include "core/util/atomic_file.h"

namespace quench::testing {

void WriteSyntheticModel(const std::filesystem::path& dir, const std::string& config_json,
                         unsigned seed, DType storage) {
  const auto spec = ParseModelSpec(config_json, "synthetic config.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  std::mt19937 random(seed);
  std::vector<std::pair<std::string, Tensor>> tensors;
  auto add = [&](const std::string& name, Shape shape, float mean, float spread) {
    Tensor values = Tensor::Zeros(DType::kF32, shape);
    std::normal_distribution<float> normal(mean, spread);
    for (int64_t i = 0; i < values.num_elements(); ++i)
      values.mutable_data<float>()[i] = normal(random);
    Tensor stored = Tensor::Zeros(storage, shape);
    ConvertFromFloat(values.data<float>(), storage, stored.mutable_data<uint8_t>(),
                     static_cast<size_t>(values.num_elements()));
    tensors.emplace_back(name, stored);
  };
  const int64_t hidden = spec->hidden_size;
  add(spec->EmbeddingName(), {spec->vocab_size, hidden}, 0.0f, 1.0f);
  if (spec->positions == PositionKind::kLearned) {
    add(spec->PositionEmbeddingName(),
        {spec->max_position_embeddings + spec->learned_position_offset, hidden}, 0.0f, 0.3f);
  }
  auto add_norm = [&](const std::string& weight, const std::string& bias) {
    add(weight, {hidden}, 1.0f, 0.1f);
    if (spec->norm_bias) add(bias, {hidden}, 0.0f, 0.1f);
  };
  for (int64_t layer = 0; layer < spec->num_layers; ++layer) {
    add_norm(spec->AttentionNormName(layer), spec->AttentionNormName(layer, "bias"));
    add_norm(spec->MlpNormName(layer), spec->MlpNormName(layer, "bias"));
    for (LinearRole role : kAllLinearRoles) {
      if (!spec->HasLinear(role)) continue;
      const auto [out, in] = spec->LinearShape(role);
      add(spec->LinearName(layer, role), {out, in}, 0.0f, 1.0f / std::sqrt(static_cast<float>(in)));
      if (spec->LinearHasBias(role)) add(spec->LinearName(layer, role, "bias"), {out}, 0.0f, 0.1f);
    }
  }
  if (spec->norm_before_sublayer) add_norm(spec->FinalNormName(), spec->FinalNormName("bias"));
  if (!spec->tie_word_embeddings) add(spec->LmHeadName(), {spec->vocab_size, hidden}, 0.0f, 0.2f);

  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomically(dir / "config.json", config_json).ok());
  ASSERT_TRUE(WriteSafetensors(dir / "model.safetensors", tensors, {{"format", "pt"}}).ok());
}

}  // namespace quench::testing
