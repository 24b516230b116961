// config.json → ModelSpec for each supported family, and malformed configs refused clearly.
#include "core/model/model_spec.h"

#include <gtest/gtest.h>

#include "tests/core/test_paths.h"

namespace quench {
namespace {

TEST(ModelSpecTest, ReadsStories260K) {
  const auto dir = testing::SharedPath("models/stories260K");
  QUENCH_REQUIRE_SHARED(dir / "config.json");
  auto spec = LoadModelSpec(dir);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->architecture, Architecture::kLlama);
  EXPECT_EQ(spec->hidden_size, 64);
  EXPECT_EQ(spec->intermediate_size, 172);
  EXPECT_EQ(spec->num_layers, 5);
  EXPECT_EQ(spec->num_heads, 8);
  EXPECT_EQ(spec->num_kv_heads, 4);
  EXPECT_EQ(spec->head_dim, 8);
  EXPECT_TRUE(spec->tie_word_embeddings);
  EXPECT_DOUBLE_EQ(spec->norm_eps, 1e-5);
  EXPECT_EQ(spec->bos_token_id, 1);
}

TEST(ModelSpecTest, Llama3RopeScalingAndExplicitHeadDim) {
  auto spec = ParseModelSpec(R"({"architectures":["LlamaForCausalLM"],"vocab_size":100,
      "hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,
      "num_key_value_heads":2,"head_dim":32,"rope_theta":500000.0,
      "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,
      "high_freq_factor":4.0,"original_max_position_embeddings":8192}})",
                             "config.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->head_dim, 32);
  EXPECT_EQ(spec->q_out(), 128);
  EXPECT_EQ(spec->rope_scaling.kind, RopeScalingKind::kLlama3);
  EXPECT_EQ(spec->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(spec->LinearShape(LinearRole::kO), (std::pair<int64_t, int64_t>{64, 128}));
}

TEST(ModelSpecTest, Qwen2HasQkvBiasOnly) {
  auto spec = ParseModelSpec(R"({"architectures":["Qwen2ForCausalLM"],"vocab_size":100,
      "hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,
      "num_key_value_heads":2,"sliding_window":32,"use_sliding_window":false})",
                             "config.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->LinearHasBias(LinearRole::kQ));
  EXPECT_TRUE(spec->LinearHasBias(LinearRole::kV));
  EXPECT_FALSE(spec->LinearHasBias(LinearRole::kO));
  EXPECT_FALSE(spec->sliding_window.has_value());
  EXPECT_EQ(spec->LinearName(1, LinearRole::kK, "bias"), "model.layers.1.self_attn.k_proj.bias");
}

TEST(ModelSpecTest, OptUsesLayerNormLearnedPositionsAndRelu) {
  auto spec = ParseModelSpec(R"({"architectures":["OPTForCausalLM"],"vocab_size":50272,
      "hidden_size":768,"ffn_dim":3072,"num_hidden_layers":12,"num_attention_heads":12,
      "max_position_embeddings":2048,"do_layer_norm_before":true,"activation_function":"relu",
      "word_embed_proj_dim":768})",
                             "config.json");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->norm, NormKind::kLayerNorm);
  EXPECT_EQ(spec->positions, PositionKind::kLearned);
  EXPECT_EQ(spec->learned_position_offset, 2);
  EXPECT_EQ(spec->activation, Activation::kRelu);
  EXPECT_FALSE(spec->gated_mlp);
  EXPECT_FALSE(spec->HasLinear(LinearRole::kGate));
  EXPECT_TRUE(spec->tie_word_embeddings);
  EXPECT_EQ(spec->LinearName(3, LinearRole::kDown), "model.decoder.layers.3.fc2.weight");
  EXPECT_EQ(spec->LinearName(0, LinearRole::kO),
            "model.decoder.layers.0.self_attn.out_proj.weight");
}

struct BadConfig {
  const char* name;
  const char* json;
  const char* expected_message;
  friend void PrintTo(const BadConfig& c, std::ostream* os) { *os << c.name; }
};

class MalformedConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(MalformedConfigTest, IsRefusedWithAClearMessage) {
  const auto spec = ParseModelSpec(GetParam().json, "dir/config.json");
  ASSERT_FALSE(spec.ok()) << GetParam().name;
  EXPECT_NE(spec.status().message().find(GetParam().expected_message), std::string::npos)
      << spec.status().message();
  EXPECT_NE(spec.status().message().find("dir/config.json"), std::string::npos);
}

#define LLAMA_BASE \
  R"("architectures":["LlamaForCausalLM"],"vocab_size":10,"intermediate_size":8,"num_hidden_layers":1,)"

INSTANTIATE_TEST_SUITE_P(
    Table, MalformedConfigTest,
    ::testing::Values(
        BadConfig{"NotJson", "{hidden_size: 4", "not valid JSON"},
        BadConfig{"NotObject", "[1]", "not a JSON object"},
        BadConfig{"UnsupportedArchitecture", R"({"architectures":["GPT2LMHeadModel"]})",
                  "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, OPTForCausalLM"},
        BadConfig{"NoArchitectureAtAll", R"({"vocab_size":3})", "(none given)"},
        BadConfig{"MissingHiddenSize", "{" LLAMA_BASE R"("num_attention_heads":2})",
                  "missing \"hidden_size\""},
        BadConfig{"NegativeHiddenSize",
                  "{" LLAMA_BASE R"("hidden_size":-8,"num_attention_heads":2})",
                  "positive integer"},
        BadConfig{"HiddenSizeIsString",
                  "{" LLAMA_BASE R"("hidden_size":"64","num_attention_heads":2})",
                  "positive integer"},
        BadConfig{"HeadsNotMultipleOfKvHeads",
                  "{" LLAMA_BASE
                  R"("hidden_size":12,"num_attention_heads":3,"num_key_value_heads":2})",
                  "not a multiple of num_key_value_heads"},
        BadConfig{"HiddenNotMultipleOfHeads",
                  "{" LLAMA_BASE R"("hidden_size":10,"num_attention_heads":4})",
                  "not a multiple of num_attention_heads"},
        BadConfig{
            "UnsupportedRopeScaling",
            "{" LLAMA_BASE
            R"("hidden_size":8,"num_attention_heads":2,"rope_scaling":{"type":"yarn","factor":4}})",
            "rope_scaling type 'yarn'"},
        BadConfig{"UnknownActivation",
                  "{" LLAMA_BASE
                  R"("hidden_size":8,"num_attention_heads":2,"hidden_act":"swoosh"})",
                  "activation 'swoosh'"},
        BadConfig{"EpsNotNumber",
                  "{" LLAMA_BASE R"("hidden_size":8,"num_attention_heads":2,"rms_norm_eps":"x"})",
                  "\"rms_norm_eps\" must be a number"},
        BadConfig{"OptWithProjection",
                  R"({"architectures":["OPTForCausalLM"],"vocab_size":10,"hidden_size":8,
                      "ffn_dim":16,"num_hidden_layers":1,"num_attention_heads":2,
                      "word_embed_proj_dim":4})",
                  "word_embed_proj_dim"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace quench
