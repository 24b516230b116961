// The forward pass against the slow reference (max |Δlogit| ≤ 1e-4), on the real stories260K
// and on synthetic models of every supported family; thread-count independence; perplexity of
// stories260K against the published reference.
#include "core/model/forward.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iostream>

#include "core/data/token_dataset.h"
#include "core/eval/perplexity.h"
#include "core/io/checkpoint.h"
#include "core/util/thread_pool.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/core/reference_forward.h"
#include "tests/core/synthetic_model.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

using testing::SharedPath;
using testing::TempDir;

struct Loaded {
  ModelSpec spec;
  Checkpoint checkpoint;
  ModelWeights weights;
};

Loaded Load(const std::filesystem::path& dir,
            LayerResidency residency = LayerResidency::kResident) {
  auto spec = LoadModelSpec(dir);
  EXPECT_TRUE(spec.ok()) << spec.status();
  auto checkpoint = Checkpoint::Open(dir);
  EXPECT_TRUE(checkpoint.ok()) << checkpoint.status();
  auto weights = LoadModelWeights(*spec, *checkpoint, residency);
  EXPECT_TRUE(weights.ok()) << weights.status();
  return {*spec, *checkpoint, *weights};
}

// Runs several sequences of different lengths in one batch and compares each with the
// reference run on that sequence alone.
double MaxDifferenceFromReference(const Loaded& model,
                                  const std::vector<std::vector<TokenId>>& sequences) {
  auto backend = kernels::MakeCpuBackend();
  Transformer transformer(model.spec, model.weights, *backend);
  TokenBatch batch;
  for (const auto& sequence : sequences) batch.Add(sequence);
  auto logits = transformer.Forward(batch);
  EXPECT_TRUE(logits.ok()) << logits.status();
  double max_difference = 0.0;
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    const auto reference = testing::ReferenceLogits(model.spec, model.checkpoint, sequences[s]);
    for (size_t t = 0; t < reference.size(); ++t) {
      const float* row = logits->data<float>() + (batch.offsets[s] + t) * model.spec.vocab_size;
      for (int64_t v = 0; v < model.spec.vocab_size; ++v) {
        max_difference = std::max(max_difference, std::fabs(row[v] - reference[t][v]));
      }
    }
  }
  std::cout << "max |logit - reference logit| = " << max_difference << "\n";
  return max_difference;
}

std::vector<std::vector<TokenId>> RandomSequences(int64_t vocab, std::vector<int> lengths,
                                                  unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<TokenId> token(0, static_cast<TokenId>(vocab - 1));
  std::vector<std::vector<TokenId>> sequences;
  for (int length : lengths) {
    auto& sequence = sequences.emplace_back();
    for (int i = 0; i < length; ++i) sequence.push_back(token(random));
  }
  return sequences;
}

TEST(ForwardTest, Stories260KMatchesReference) {
  const auto dir = SharedPath("models/stories260K");
  const auto data = SharedPath("data/stories260K-eval.jsonl");
  QUENCH_REQUIRE_SHARED(dir);
  QUENCH_REQUIRE_SHARED(data);
  const Loaded model = Load(dir);
  DatasetOptions options;
  options.max_sequences = 2;
  auto sequences = LoadJsonlSequences(data, nullptr, options);
  ASSERT_TRUE(sequences.ok()) << sequences.status();
  (*sequences)[1].resize(100);  // a second, shorter sequence in the same batch
  EXPECT_LE(MaxDifferenceFromReference(model, *sequences), 1e-4);
}

struct SyntheticCase {
  const char* name;
  const char* config;
  DType storage;
  friend void PrintTo(const SyntheticCase& c, std::ostream* os) { *os << c.name; }
};

class SyntheticForwardTest : public ::testing::TestWithParam<SyntheticCase> {};

TEST_P(SyntheticForwardTest, MatchesReference) {
  TempDir dir;
  testing::WriteSyntheticModel(dir.path(), GetParam().config, 1234, GetParam().storage);
  for (LayerResidency residency : {LayerResidency::kResident, LayerResidency::kOnDemand}) {
    const Loaded model = Load(dir.path(), residency);
    EXPECT_EQ(model.weights.layers.empty(), residency == LayerResidency::kOnDemand);
    const auto sequences = RandomSequences(model.spec.vocab_size, {37, 5, 64}, 99);
    EXPECT_LE(MaxDifferenceFromReference(model, sequences), 1e-4);
  }
}

TEST(ModelWeightsTest, OnDemandLoadingChecksEveryBlockUpFront) {
  TempDir dir;
  const std::string config = R"({"architectures":["LlamaForCausalLM"],"vocab_size":64,
      "hidden_size":32,"intermediate_size":48,"num_hidden_layers":3,"num_attention_heads":4,
      "max_position_embeddings":128})";
  testing::WriteSyntheticModel(dir.path(), config, 3, DType::kBF16);
  auto spec = LoadModelSpec(dir.path());
  auto checkpoint = Checkpoint::Open(dir.path());
  ASSERT_TRUE(spec.ok() && checkpoint.ok());
  // A config that disagrees with the last block's MLP must fail at load, not mid-job.
  ModelSpec wrong = *spec;
  wrong.intermediate_size = 40;
  const auto loaded = LoadModelWeights(wrong, *checkpoint, LayerResidency::kOnDemand);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("config.json implies"), std::string::npos)
      << loaded.status();
  // Blocks loaded on demand equal the resident ones, tensor by tensor.
  auto resident = LoadModelWeights(*spec, *checkpoint, LayerResidency::kResident);
  auto on_demand = LoadModelWeights(*spec, *checkpoint, LayerResidency::kOnDemand);
  ASSERT_TRUE(resident.ok() && on_demand.ok());
  for (int64_t layer = 0; layer < spec->num_layers; ++layer) {
    const LayerWeights a = resident->Layer(layer), b = on_demand->Layer(layer);
    for (LinearRole role : kAllLinearRoles) {
      if (!spec->HasLinear(role)) continue;
      const Tensor& x = a.linear(role).weight;
      const Tensor& y = b.linear(role).weight;
      ASSERT_EQ(x.num_bytes(), y.num_bytes());
      EXPECT_EQ(std::memcmp(x.raw_data(), y.raw_data(), x.num_bytes()), 0) << layer;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Families, SyntheticForwardTest,
    ::testing::Values(
        SyntheticCase{"OptPreNorm",
                      R"({"architectures":["OPTForCausalLM"],"vocab_size":97,"hidden_size":48,
                          "ffn_dim":80,"num_hidden_layers":2,"num_attention_heads":4,
                          "max_position_embeddings":128,"do_layer_norm_before":true,
                          "activation_function":"relu","word_embed_proj_dim":48})",
                      DType::kF32},
        SyntheticCase{"OptPostNormFp16",
                      R"({"architectures":["OPTForCausalLM"],"vocab_size":97,"hidden_size":32,
                          "ffn_dim":64,"num_hidden_layers":2,"num_attention_heads":2,
                          "max_position_embeddings":128,"do_layer_norm_before":false,
                          "activation_function":"relu"})",
                      DType::kF16},
        SyntheticCase{"LlamaGqaLlama3RopeBf16",
                      R"({"architectures":["LlamaForCausalLM"],"vocab_size":101,"hidden_size":64,
                          "intermediate_size":96,"num_hidden_layers":2,"num_attention_heads":8,
                          "num_key_value_heads":2,"rope_theta":500000.0,"rms_norm_eps":1e-5,
                          "tie_word_embeddings":false,"max_position_embeddings":256,
                          "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,
                          "high_freq_factor":4.0,"original_max_position_embeddings":64}})",
                      DType::kBF16},
        SyntheticCase{"Qwen2Bias",
                      R"({"architectures":["Qwen2ForCausalLM"],"vocab_size":90,"hidden_size":32,
                          "intermediate_size":72,"num_hidden_layers":2,"num_attention_heads":4,
                          "num_key_value_heads":2,"rope_theta":1000000.0,"rms_norm_eps":1e-6,
                          "tie_word_embeddings":true,"max_position_embeddings":128})",
                      DType::kF32},
        SyntheticCase{"MistralSlidingWindow",
                      R"({"architectures":["MistralForCausalLM"],"vocab_size":64,"hidden_size":32,
                          "intermediate_size":48,"num_hidden_layers":2,"num_attention_heads":4,
                          "num_key_value_heads":1,"sliding_window":16,"max_position_embeddings":128})",
                      DType::kF32}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ForwardTest, ResultsDoNotDependOnThreadCount) {
  TempDir dir;
  testing::WriteSyntheticModel(dir.path(),
                               R"({"architectures":["LlamaForCausalLM"],"vocab_size":300,
                                   "hidden_size":96,"intermediate_size":200,"num_hidden_layers":2,
                                   "num_attention_heads":6,"num_key_value_heads":3,
                                   "max_position_embeddings":512})",
                               7);
  const Loaded model = Load(dir.path());
  TokenBatch batch;
  for (const auto& sequence : RandomSequences(300, {200, 77, 130}, 5)) batch.Add(sequence);
  std::vector<Tensor> results;
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    auto backend = kernels::MakeCpuBackend(&pool);
    Transformer transformer(model.spec, model.weights, *backend);
    auto logits = transformer.Forward(batch);
    ASSERT_TRUE(logits.ok());
    results.push_back(*logits);
  }
  for (size_t i = 1; i < results.size(); ++i) {
    EXPECT_EQ(std::memcmp(results[0].raw_data(), results[i].raw_data(), results[0].num_bytes()), 0)
        << "logits differ between 1 thread and run " << i;
  }
}

TEST(ForwardTest, RefusesTokensOutsideTheVocabularyAndOverlongSequences) {
  const auto dir = SharedPath("models/stories260K");
  QUENCH_REQUIRE_SHARED(dir);
  const Loaded model = Load(dir);
  auto backend = kernels::MakeCpuBackend();
  Transformer transformer(model.spec, model.weights, *backend);
  TokenBatch bad_token;
  bad_token.Add(std::vector<TokenId>{1, 2, 512});
  EXPECT_FALSE(transformer.Forward(bad_token).ok());
  TokenBatch too_long;
  too_long.Add(std::vector<TokenId>(513, 5));
  const auto status = transformer.Forward(too_long).status();
  EXPECT_NE(status.message().find("context of 512"), std::string::npos) << status;
}

// The published reference: 4.229785 (numpy and llama.cpp agree to 1e-6). Asked: within 0.1%.
TEST(PerplexityTest, Stories260KMatchesPublishedFigure) {
  const auto dir = SharedPath("models/stories260K");
  const auto data = SharedPath("data/stories260K-eval.jsonl");
  QUENCH_REQUIRE_SHARED(dir);
  QUENCH_REQUIRE_SHARED(data);
  const Loaded model = Load(dir);
  auto sequences = LoadJsonlSequences(data, nullptr, {});
  ASSERT_TRUE(sequences.ok()) << sequences.status();
  auto backend = kernels::MakeCpuBackend();
  Transformer transformer(model.spec, model.weights, *backend);
  auto result = EvaluatePerplexity(transformer, *sequences);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->predicted_tokens, 12240);
  EXPECT_NEAR(result->perplexity(), 4.229785, 4.229785 * 1e-3);
  EXPECT_NEAR(result->perplexity(), 4.229785, 1e-4) << "expected far better than the 0.1% asked";
}

TEST(PerplexityTest, TinyStories656KMatchesPublishedFigure) {
  const auto dir = SharedPath("models/tinystories656K");
  const auto data = SharedPath("data/tinystories656K-eval.jsonl");
  QUENCH_REQUIRE_SHARED(dir);
  QUENCH_REQUIRE_SHARED(data);
  const Loaded model = Load(dir);
  auto sequences = LoadJsonlSequences(data, nullptr, {});
  ASSERT_TRUE(sequences.ok()) << sequences.status();
  auto backend = kernels::MakeCpuBackend();
  Transformer transformer(model.spec, model.weights, *backend);
  PerplexityOptions options;
  options.batch_tokens = 1000;  // several batches, unlike the test above
  auto result = EvaluatePerplexity(transformer, *sequences, options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NEAR(result->perplexity(), 65.882088, 65.882088 * 1e-3);
}

}  // namespace
}  // namespace quench
