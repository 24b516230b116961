// GGUF models written from a job: every key and tensor llama.cpp needs is there with the types
// it demands, Q/K rows follow the converter's permutation, and the file decodes to exactly the
// weights the job produced (so evaluating the .gguf is evaluating the job's model).
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "core/data/token_dataset.h"
#include "core/export/export_outputs.h"
#include "core/gguf/gguf_mixture.h"
#include "core/gguf/gguf_model_reader.h"
#include "core/gguf/gguf_model_writer.h"
#include "core/job/quant_plan.h"
#include "core/model/testgen.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/core/test_paths.h"
#include "tests/job/job_test_support.h"

namespace quench {
namespace {

using testing::TempDir;

bool SameBits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()) == 0;
}

// The converter's permutation written as its reshape: W.reshape(heads, 2, rows/heads/2, cols)
// .swapaxes(1, 2): GGUF row (h, i, j) at h·hd + 2i + j holds HF row (h, j, i) at h·hd + j·hd/2 + i.
TEST(GgufModelTest, RowPermutationIsTheConvertersReshape) {
  const int64_t heads = 4, head_dim = 8, rows = heads * head_dim;
  std::vector<int> seen(rows, 0);
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < head_dim / 2; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t gguf_row = h * head_dim + 2 * i + j;
        const int64_t hf_row = h * head_dim + j * (head_dim / 2) + i;
        EXPECT_EQ(HfRowOfGgufRow(gguf_row, rows, heads), hf_row);
        ++seen[hf_row];
      }
    }
  }
  for (int count : seen) EXPECT_EQ(count, 1);
}

TEST(GgufModelTest, Q4KMMixtureFollowsLlamaQuantizeRules) {
  // stories260K's shapes: width 64 fits no 256-block, so K-quants fall back; ffn_down's input
  // width 172 fits no 32-block either, so it stays F16 (unquantized).
  auto spec = ParseModelSpec(LlamaConfigJson(64, 172, 5, 8, 4, 512, 512), "test");
  ASSERT_TRUE(spec.ok()) << spec.status();
  spec->tie_word_embeddings = true;
  const GgufMixture q4km = *FindGgufMixture("Q4_K_M");
  const auto type = [&](GgufWeightRole role, int64_t layer, int64_t ne0) {
    return GgufTypeForWeight(q4km, *spec, role, layer, ne0);
  };
  EXPECT_EQ(type(GgufWeightRole::kQ, 2, 64), GgmlType::kQ5_0);  // Q4_K → Q5_0
  // use_more_bits over 5 layers: 5/8 = 0, 7·5/8 = 4, so layers 2 ((2 − 0) % 3 == 2) and 4.
  EXPECT_EQ(type(GgufWeightRole::kV, 2, 64), GgmlType::kQ8_0);  // Q6_K → Q8_0
  EXPECT_EQ(type(GgufWeightRole::kV, 0, 64), GgmlType::kQ5_0);  // not a more-bits layer
  EXPECT_EQ(type(GgufWeightRole::kV, 1, 64), GgmlType::kQ5_0);
  EXPECT_EQ(type(GgufWeightRole::kV, 4, 64), GgmlType::kQ8_0);               // last eighth
  EXPECT_EQ(type(GgufWeightRole::kDown, 0, 172), GgmlType::kF16);            // no block fits 172
  EXPECT_EQ(type(GgufWeightRole::kTokenEmbedding, 0, 64), GgmlType::kQ8_0);  // tied: output rule
  // With room for 256-blocks the K types stay.
  EXPECT_EQ(type(GgufWeightRole::kQ, 2, 4096), GgmlType::kQ4_K);
  EXPECT_EQ(type(GgufWeightRole::kDown, 2, 14336), GgmlType::kQ6_K);
  EXPECT_EQ(type(GgufWeightRole::kDown, 3, 14336), GgmlType::kQ4_K);  // (3 - 0) % 3 != 2

  Recipe recipe;
  recipe.method = QuantMethod::kRtn;
  recipe.gguf.type = "q4_k_m";
  auto plan = MakeQuantPlan(*spec, recipe);
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (const PlannedBlock& block : plan->blocks) {
    for (const PlannedGroup& group : block.groups) {
      for (const PlannedLinear& linear : group.linears) {
        EXPECT_NE(linear.role, LinearRole::kDown) << "172 wide: left unquantized";
        const auto [out, in] = spec->LinearShape(linear.role);
        const GgmlType expected =
            GgufTypeForWeight(q4km, *spec, GgufRoleOfLinear(linear.role), linear.layer, in);
        EXPECT_EQ(GgmlTypeForGrid(linear.grid, in), expected) << linear.name;
      }
    }
  }
  // Where a K-quant block fits, the plan solves on that type's own grid.
  auto wide = ParseModelSpec(LlamaConfigJson(256, 512, 2, 4, 4, 64, 64), "test");
  ASSERT_TRUE(wide.ok());
  const auto wide_plan = MakeQuantPlan(*wide, recipe);
  ASSERT_TRUE(wide_plan.ok()) << wide_plan.status();
  const PlannedLinear& q0 = wide_plan->blocks[0].groups[0].linears[0];
  ASSERT_EQ(q0.role, LinearRole::kQ);
  EXPECT_EQ(q0.grid.kind, GridKind::kGgml);
  EXPECT_EQ(q0.grid.ggml_type, GgmlType::kQ4_K);
  EXPECT_EQ(GgmlTypeForGrid(q0.grid, 256), GgmlType::kQ4_K);
}

struct Written {
  std::optional<testing::JobRun> run;
  std::filesystem::path gguf;
};

// A 2-layer testgen model `hidden` wide (K-quants need widths in 256-blocks).
Written WriteGgufFromJob(const TempDir& dir, const Recipe& recipe, int64_t hidden = 64) {
  Written written;
  TestgenOptions options;
  options.seed = 5;
  if (!WriteSyntheticModel(dir / "model", LlamaConfigJson(hidden, 2 * hidden, 2, 4, 2, 96, 64),
                           options)
           .ok()) {
    ADD_FAILURE() << "testgen failed";
    return written;
  }
  written.run = testing::RunJob(dir / "model", recipe, testing::RandomSequences(96, 8, 24, 3), {});
  if (!written.run) return written;
  const auto status = testing::WriteQuenchArtifact(*written.run, dir / "quench.safetensors");
  EXPECT_TRUE(status.ok()) << status;
  const auto plan = MakeQuantPlan(written.run->spec, recipe);
  EXPECT_TRUE(plan.ok());
  const auto check = CheckPlanForExports(written.run->spec, *plan, recipe, DType::kF32);
  EXPECT_TRUE(check.ok()) << check;
  const auto exported =
      WriteExport("gguf", dir / "quench.safetensors", written.run->spec, written.run->checkpoint,
                  dir / "model", dir / "out", recipe.gguf.type);
  EXPECT_TRUE(exported.ok()) << exported;
  written.gguf = dir / "out" / kGgufFileName;
  return written;
}

struct MixtureCase {
  std::string mixture;
  GgmlType attn_q_type;  // what llama-quantize gives blk.0.attn_q
  int64_t hidden;
  friend void PrintTo(const MixtureCase& c, std::ostream* os) { *os << c.mixture; }
};

class GgufJobTest : public ::testing::TestWithParam<MixtureCase> {};

TEST_P(GgufJobTest, FileDecodesToTheJobsWeightsWithEveryRequiredKey) {
  TempDir dir;
  Recipe recipe;
  recipe.method = QuantMethod::kGptq;
  recipe.gptq.act_order = true;
  recipe.gptq.static_groups = true;
  recipe.gguf.type = GetParam().mixture;
  recipe.calibration.shards = 2;
  const Written written = WriteGgufFromJob(dir, recipe, GetParam().hidden);
  ASSERT_TRUE(written.run.has_value());
  auto opened = GgufFile::Open(written.gguf);
  ASSERT_TRUE(opened.ok()) << opened.status();
  auto file = std::make_shared<const GgufFile>(std::move(*opened));
  for (const std::string& key : RequiredLlamaGgufKeys()) EXPECT_NE(file->Find(key), nullptr) << key;
  for (const std::string& name : RequiredLlamaGgufTensors(2))
    EXPECT_NE(file->FindTensor(name), nullptr) << name;
  // The exact types llama.cpp's loader checks.
  for (const char* key :
       {"llama.context_length", "llama.embedding_length", "llama.block_count",
        "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
        "llama.rope.dimension_count", "llama.vocab_size", "general.quantization_version",
        "general.alignment", "general.file_type"})
    EXPECT_EQ(file->Find(key)->type, GgufValueType::kU32) << key;
  for (const char* key : {"llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base"})
    EXPECT_EQ(file->Find(key)->type, GgufValueType::kF32) << key;
  EXPECT_EQ(file->GetString("tokenizer.ggml.model").value_or(""), "none") << "testgen model";
  EXPECT_EQ(file->GetUnsigned("general.file_type").value_or(0),
            FindGgufMixture(GetParam().mixture)->file_type);
  EXPECT_EQ(file->FindTensor("blk.0.attn_q.weight")->type, GetParam().attn_q_type);
  EXPECT_EQ(file->FindTensor("blk.0.attn_norm.weight")->type, GgmlType::kF32);

  auto spec = ReadGgufModelSpec(*file);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->num_kv_heads, written.run->spec.num_kv_heads);
  EXPECT_EQ(spec->intermediate_size, written.run->spec.intermediate_size);
  auto weights = LoadGgufWeights(*spec, file);
  ASSERT_TRUE(weights.ok()) << weights.status();
  ASSERT_EQ(written.run->quantized.linears.size(), 14u);
  for (const auto& linear : written.run->quantized.linears) {
    const Tensor decoded = weights->Layer(linear.plan.layer).linear(linear.plan.role).weight;
    EXPECT_TRUE(SameBits(decoded, linear.quantized.Dequantize())) << linear.plan.name;
  }
  // Unquantized tensors are the source's values exactly.
  const Tensor norm = *written.run->checkpoint.Get("model.layers.1.input_layernorm.weight");
  EXPECT_TRUE(SameBits(weights->Layer(1).attention_norm_weight, norm.ToFloat32()));
  EXPECT_TRUE(SameBits(weights->embedding,
                       written.run->checkpoint.Get("model.embed_tokens.weight")->ToFloat32()));
}

INSTANTIATE_TEST_SUITE_P(Types, GgufJobTest,
                         ::testing::Values(MixtureCase{"q4_0", GgmlType::kQ4_0, 64},
                                           MixtureCase{"q5_0", GgmlType::kQ5_0, 64},
                                           MixtureCase{"q8_0", GgmlType::kQ8_0, 64},
                                           MixtureCase{"q4_1", GgmlType::kQ4_1, 64},
                                           MixtureCase{"q5_1", GgmlType::kQ5_1, 64},
                                           MixtureCase{"q2_k", GgmlType::kQ2_K, 256},
                                           MixtureCase{"q3_k_m", GgmlType::kQ3_K, 256},
                                           MixtureCase{"q4_k_m", GgmlType::kQ4_K, 256},
                                           MixtureCase{"q5_k_m", GgmlType::kQ5_K, 256},
                                           MixtureCase{"q6_k", GgmlType::kQ6_K, 256}),
                         [](const auto& info) { return info.param.mixture; });

// Acceptance on the real stories260K: the GGUF evaluates exactly as the job's own model did
// (same KL to the last bit), and GPTQ solved on the Q4_0 grid beats round-to-nearest Q4_0.
TEST(GgufModelTest, Stories260KGptqOnTheQ4_0GridBeatsRoundToNearest) {
  const auto model = testing::SharedPath("models/stories260K");
  const auto calib = testing::SharedPath("data/stories260K-calib.jsonl");
  const auto eval = testing::SharedPath("data/stories260K-eval.jsonl");
  for (const auto& path : {model, calib, eval}) QUENCH_REQUIRE_SHARED(path);
  const TokenSequences calibration = *LoadJsonlSequences(calib, nullptr, {});
  const TokenSequences evaluation = *LoadJsonlSequences(eval, nullptr, {});
  auto backend = kernels::MakeCpuBackend();
  double kl[2] = {0, 0};
  for (const QuantMethod method : {QuantMethod::kRtn, QuantMethod::kGptq}) {
    TempDir dir;
    Recipe recipe = *LoadPreset("gptq-gguf-q4_0");
    recipe.method = method;
    recipe.calibration.samples = static_cast<int64_t>(calibration.size());
    auto run = testing::RunJob(model, recipe, calibration, evaluation);
    ASSERT_TRUE(run.has_value());
    ASSERT_TRUE(testing::WriteQuenchArtifact(*run, dir / "quench.safetensors").ok());
    const auto exported = WriteExport("gguf", dir / "quench.safetensors", run->spec,
                                      run->checkpoint, model, dir.path(), "q4_0");
    ASSERT_TRUE(exported.ok()) << exported;
    auto opened = GgufFile::Open(dir / kGgufFileName);
    ASSERT_TRUE(opened.ok()) << opened.status();
    auto file = std::make_shared<const GgufFile>(std::move(*opened));
    EXPECT_EQ(file->GetString("tokenizer.ggml.model").value_or(""), "llama");
    EXPECT_EQ(file->Find("tokenizer.ggml.tokens")->strings.size(), 512u);
    EXPECT_EQ(file->FindTensor("blk.0.ffn_down.weight")->type, GgmlType::kF32) << "172 wide";
    EXPECT_EQ(file->FindTensor("blk.0.ffn_up.weight")->type, GgmlType::kQ4_0);
    auto spec = ReadGgufModelSpec(*file);
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto weights = LoadGgufWeights(*spec, file);
    ASSERT_TRUE(weights.ok()) << weights.status();
    Transformer reference(run->spec, run->original, *backend);
    Transformer from_gguf(*spec, *weights, *backend);
    auto comparison = CompareModels(reference, from_gguf, evaluation);
    ASSERT_TRUE(comparison.ok()) << comparison.status();
    EXPECT_EQ(comparison->mean_kl(), run->comparison->mean_kl()) << "GGUF ≠ the job's model";
    EXPECT_EQ(comparison->candidate.perplexity(), run->comparison->candidate.perplexity());
    kl[method == QuantMethod::kGptq] = comparison->mean_kl();
    std::printf("%s on the Q4_0 grid: KL %.5f, perplexity %.4f\n",
                std::string(QuantMethodName(method)).c_str(), comparison->mean_kl(),
                comparison->candidate.perplexity());
  }
  EXPECT_LT(kl[1], 0.75 * kl[0]) << "GPTQ " << kl[1] << " vs RTN " << kl[0];
}

// Every mixture on the real stories260K (RTN: no calibration needed): the file carries every
// key and tensor llama.cpp requires and decodes to the job's weights bit for bit. Its 64-wide
// matrices fit no 256-block, so the k-quant mixtures exercise llama.cpp's fallbacks here; the
// k-quant grids themselves are covered by GgufJobTest on 256-wide models.
TEST(GgufModelTest, Stories260KEveryMixtureLoadsWithTheJobsWeights) {
  const auto model = testing::SharedPath("models/stories260K");
  QUENCH_REQUIRE_SHARED(model);
  for (const std::string& mixture : GgufMixtureNames()) {
    if (mixture == "f32" || mixture == "f16" || mixture == "bf16") continue;
    SCOPED_TRACE(mixture);
    TempDir dir;
    Recipe recipe;
    recipe.method = QuantMethod::kRtn;
    recipe.gguf.type = mixture;
    auto run = testing::RunJob(model, recipe, {}, {});
    ASSERT_TRUE(run.has_value());
    ASSERT_TRUE(testing::WriteQuenchArtifact(*run, dir / "quench.safetensors").ok());
    const auto exported = WriteExport("gguf", dir / "quench.safetensors", run->spec,
                                      run->checkpoint, model, dir.path(), mixture);
    ASSERT_TRUE(exported.ok()) << exported;
    auto opened = GgufFile::Open(dir / kGgufFileName);
    ASSERT_TRUE(opened.ok()) << opened.status();
    auto file = std::make_shared<const GgufFile>(std::move(*opened));
    for (const std::string& key : RequiredLlamaGgufKeys())
      EXPECT_NE(file->Find(key), nullptr) << key;
    for (const std::string& name : RequiredLlamaGgufTensors(run->spec.num_layers))
      EXPECT_NE(file->FindTensor(name), nullptr) << name;
    EXPECT_EQ(file->GetUnsigned("general.file_type").value_or(0),
              FindGgufMixture(mixture)->file_type);
    auto spec = ReadGgufModelSpec(*file);
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto weights = LoadGgufWeights(*spec, file);
    ASSERT_TRUE(weights.ok()) << weights.status();
    ASSERT_FALSE(run->quantized.linears.empty());
    for (const auto& linear : run->quantized.linears) {
      const Tensor decoded = weights->Layer(linear.plan.layer).linear(linear.plan.role).weight;
      ASSERT_TRUE(SameBits(decoded, linear.quantized.Dequantize())) << linear.plan.name;
    }
  }
}

TEST(GgufModelTest, PlanCheckRefusesGridsWithoutABlockType) {
  auto spec = ParseModelSpec(LlamaConfigJson(64, 128, 1, 4, 2, 96, 64), "test");
  ASSERT_TRUE(spec.ok());
  Recipe recipe;
  recipe.method = QuantMethod::kRtn;
  recipe.weights.group_size = 32;
  recipe.weights.symmetric = false;
  recipe.outputs = {"fake_quant", "quench", "gguf"};
  auto plan = MakeQuantPlan(*spec, recipe);
  ASSERT_TRUE(plan.ok());
  auto status = CheckPlanForExports(*spec, *plan, recipe, DType::kF32);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("gptq-gguf-q4_0"), std::string::npos) << status;
  recipe.weights.symmetric = true;  // int4 sym g32 fp16 is Q4_0's grid
  plan = MakeQuantPlan(*spec, recipe);
  EXPECT_TRUE(CheckPlanForExports(*spec, *plan, recipe, DType::kF32).ok());
  recipe.method = QuantMethod::kGptq;
  recipe.gptq.act_order = true;
  status = CheckPlanForExports(*spec, *plan, recipe, DType::kF32);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("static_groups"), std::string::npos) << status;
}

}  // namespace
}  // namespace quench
