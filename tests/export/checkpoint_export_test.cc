// GPTQ and AWQ checkpoints written from a job's quench.safetensors are read back by readers
// that follow the published layouts, and dequantize to exactly the weights the job produced.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "core/export/awq_format.h"
#include "core/export/export_outputs.h"
#include "core/export/gptq_format.h"
#include "core/model/testgen.h"
#include "core/util/atomic_file.h"
#include "nlohmann/json.hpp"
#include "tests/core/test_paths.h"
#include "tests/job/job_test_support.h"

namespace quench {
namespace {

using testing::TempDir;

TokenSequences RandomSequences(int count, int length, unsigned seed) {
  std::mt19937 random(seed);
  TokenSequences sequences(count, std::vector<TokenId>(length));
  for (auto& sequence : sequences) {
    for (auto& id : sequence) id = static_cast<TokenId>(random() % 128);
  }
  return sequences;
}

// A job on a small synthetic Llama whose widths (64, 128) every format can pack.
std::optional<testing::JobRun> RunSmallJob(const TempDir& dir, const Recipe& recipe) {
  TestgenOptions options;
  options.seed = 21;
  options.dtype = DType::kF16;
  if (!WriteSyntheticModel(dir / "model", LlamaConfigJson(64, 128, 2, 4, 2, 128, 64), options)
           .ok()) {
    ADD_FAILURE() << "testgen failed";
    return std::nullopt;
  }
  auto run = testing::RunJob(dir / "model", recipe, RandomSequences(8, 24, 4), {});
  if (!run) return std::nullopt;
  const auto status = testing::WriteQuenchArtifact(*run, dir / "quench.safetensors");
  if (!status.ok()) {
    ADD_FAILURE() << status;
    return std::nullopt;
  }
  return run;
}

nlohmann::json QuantizationConfig(const std::filesystem::path& dir) {
  const auto text = ReadFileToString(dir / "config.json");
  EXPECT_TRUE(text.ok());
  return nlohmann::json::parse(text.value_or("{}"))["quantization_config"];
}

void ExpectSameWeights(const QuantizedTensor& read, const QuantizedTensor& produced,
                       const std::string& name) {
  const Tensor a = read.Dequantize(), b = produced.Dequantize();
  ASSERT_EQ(a.shape(), b.shape()) << name;
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()), 0) << name;
}

struct GptqCase {
  int bits;
  bool symmetric;
  bool act_order;
  friend void PrintTo(const GptqCase& c, std::ostream* os) {
    *os << c.bits << (c.symmetric ? "sym" : "asym") << (c.act_order ? "ActOrder" : "");
  }
};

class GptqExportTest : public ::testing::TestWithParam<GptqCase> {};

TEST_P(GptqExportTest, ReadsBackTheJobsWeights) {
  const GptqCase c = GetParam();
  TempDir dir;
  Recipe recipe;
  recipe.method = QuantMethod::kGptq;
  recipe.weights.bits = c.bits;
  recipe.weights.symmetric = c.symmetric;
  recipe.weights.group_size = 32;
  recipe.gptq.act_order = c.act_order;
  recipe.calibration.shards = 2;
  // Mixed precision: the MLP's down projection gets 8 bits, the last block's q_proj none.
  LayerOverride wider;
  wider.match = "mlp\\.down_proj";
  wider.grid = recipe.weights;
  wider.grid->bits = 8;
  recipe.overrides.push_back(wider);
  recipe.ignore.push_back("layers\\.1\\.self_attn\\.q_proj");
  auto run = RunSmallJob(dir, recipe);
  ASSERT_TRUE(run.has_value());
  const auto convention = c.symmetric ? "gptq" : "gptq_v2";
  const auto written = WriteExport(convention, dir / "quench.safetensors", run->spec,
                                   run->checkpoint, dir / "model", dir / "out");
  ASSERT_TRUE(written.ok()) << written;
  const auto out = dir / "out" / convention;
  EXPECT_TRUE(std::filesystem::exists(out / "quantize_config.json"));
  const nlohmann::json config = QuantizationConfig(out);
  EXPECT_EQ(config["quant_method"], "gptq");
  EXPECT_EQ(config["bits"], c.bits);
  EXPECT_EQ(config["group_size"], 32);
  EXPECT_EQ(config["sym"], c.symmetric);
  EXPECT_EQ(config["desc_act"], c.act_order);
  EXPECT_EQ(config["checkpoint_format"], convention);

  auto checkpoint = Checkpoint::Open(out);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_FALSE(checkpoint->Contains("model.layers.0.self_attn.q_proj.weight"));
  EXPECT_TRUE(checkpoint->Contains("model.layers.1.self_attn.q_proj.weight")) << "unquantized";
  const auto excluded = GptqConfigForModule(config, "model.layers.1.self_attn.q_proj");
  ASSERT_TRUE(excluded.ok());
  EXPECT_FALSE(excluded->quantized);
  ASSERT_EQ(run->quantized.linears.size(), 13u);
  for (const auto& linear : run->quantized.linears) {
    auto module = GptqConfigForModule(config, linear.plan.name);
    ASSERT_TRUE(module.ok()) << module.status();
    EXPECT_EQ(module->bits, linear.quantized.grid.bits) << linear.plan.name;
    auto read = ReadGptqLinear(*checkpoint, linear.plan.name, *module);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->codes, linear.quantized.codes) << linear.plan.name;
    EXPECT_EQ(read->g_idx, linear.quantized.g_idx) << linear.plan.name;
    ExpectSameWeights(*read, linear.quantized, linear.plan.name);
  }
  // Norms and the embedding are the job's final values in the source dtype.
  const auto norm = checkpoint->Get("model.norm.weight");
  ASSERT_TRUE(norm.ok());
  EXPECT_EQ(norm->dtype(), DType::kF16);
}

INSTANTIATE_TEST_SUITE_P(Grids, GptqExportTest,
                         ::testing::Values(GptqCase{4, true, false}, GptqCase{4, false, false},
                                           GptqCase{4, true, true}, GptqCase{4, false, true},
                                           GptqCase{3, true, false}, GptqCase{3, false, true},
                                           GptqCase{2, true, false}, GptqCase{2, false, false},
                                           GptqCase{8, true, true}, GptqCase{8, false, false}),
                         [](const auto& info) {
                           std::ostringstream name;
                           PrintTo(info.param, &name);
                           return name.str();
                         });

class AwqExportTest : public ::testing::TestWithParam<bool> {};

TEST_P(AwqExportTest, ReadsBackTheJobsWeightsInAwqNibbleOrder) {
  TempDir dir;
  Recipe recipe;
  recipe.method = QuantMethod::kAwq;
  recipe.weights.symmetric = GetParam();
  recipe.weights.group_size = 32;
  recipe.awq.scale_grid = 4;
  recipe.outputs = {"fake_quant", "quench", "awq"};
  auto run = RunSmallJob(dir, recipe);
  ASSERT_TRUE(run.has_value());
  const auto written = WriteExport("awq", dir / "quench.safetensors", run->spec, run->checkpoint,
                                   dir / "model", dir / "out");
  ASSERT_TRUE(written.ok()) << written;
  const nlohmann::json config = QuantizationConfig(dir / "out" / "awq");
  EXPECT_EQ(config["quant_method"], "awq");
  EXPECT_EQ(config["version"], "gemm");
  EXPECT_EQ(config["group_size"], 32);
  auto checkpoint = Checkpoint::Open(dir / "out" / "awq");
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  for (const auto& linear : run->quantized.linears) {
    auto read = ReadAwqLinear(*checkpoint, linear.plan.name, 32);
    ASSERT_TRUE(read.ok()) << read.status();
    ExpectSameWeights(*read, linear.quantized, linear.plan.name);
    // First word of input column 0, packed here from the published order: nibble s holds
    // output {0, 2, 4, 6, 1, 3, 5, 7}[s].
    const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    uint32_t expected = 0;
    for (int s = 0; s < 8; ++s)
      expected |= uint32_t{linear.quantized.codes[order[s] * linear.quantized.cols]} << (4 * s);
    const Tensor qweight = *checkpoint->Get(linear.plan.name + ".qweight");
    uint32_t word = 0;
    std::memcpy(&word, qweight.raw_data(), 4);
    EXPECT_EQ(word, expected) << linear.plan.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Symmetry, AwqExportTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Sym" : "Asym"; });

TEST(CheckpointExportTest, PlanCheckNamesTheLayerAndTheFix) {
  auto spec = ParseModelSpec(LlamaConfigJson(64, 172, 1, 4, 2, 128, 64), "test");
  ASSERT_TRUE(spec.ok()) << spec.status();
  Recipe recipe;
  recipe.method = QuantMethod::kGptq;
  recipe.outputs = {"fake_quant", "quench", "gptq"};
  auto plan = MakeQuantPlan(*spec, recipe);
  ASSERT_TRUE(plan.ok());
  auto status = CheckPlanForExports(*spec, *plan, recipe);
  ASSERT_FALSE(status.ok());
  // gate_proj [172, 64] is the first linear whose 172 outputs do not pack into 32-bit words.
  EXPECT_NE(status.message().find("model.layers.0.mlp.gate_proj"), std::string::npos) << status;
  EXPECT_NE(status.message().find("ignore"), std::string::npos) << status;

  recipe.outputs = {"fake_quant", "quench", "awq"};
  recipe.ignore.push_back("mlp");
  recipe.weights.group_size = 32;
  recipe.gptq.act_order = true;
  plan = MakeQuantPlan(*spec, recipe);
  ASSERT_TRUE(plan.ok());
  status = CheckPlanForExports(*spec, *plan, recipe);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("static_groups"), std::string::npos) << status;
  recipe.gptq.static_groups = true;
  EXPECT_TRUE(CheckPlanForExports(*spec, *plan, recipe).ok());
}

}  // namespace
}  // namespace quench
