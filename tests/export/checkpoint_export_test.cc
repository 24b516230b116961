// GPTQ and AWQ checkpoints written from a job's quench.safetensors are read back by readers
// that follow the published layouts, and dequantize to exactly the weights the job produced.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "core/export/awq_format.h"
#include "core/export/compressed_tensors_format.h"
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
  auto run = testing::RunJob(dir / "model", recipe, testing::RandomSequences(128, 8, 24, 4), {});
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

struct CompressedTensorsCase {
  GridKind kind;
  int bits;
  bool symmetric;
  Granularity granularity;
  bool act_order;
  friend void PrintTo(const CompressedTensorsCase& c, std::ostream* os) {
    *os << GridKindName(c.kind) << c.bits << (c.symmetric ? "sym" : "asym")
        << (c.granularity == Granularity::kGroup     ? "Group"
            : c.granularity == Granularity::kChannel ? "Channel"
                                                     : "Tensor")
        << (c.act_order ? "ActOrder" : "");
  }
};

class CompressedTensorsExportTest : public ::testing::TestWithParam<CompressedTensorsCase> {};

TEST_P(CompressedTensorsExportTest, ReadsBackTheJobsWeights) {
  const CompressedTensorsCase c = GetParam();
  TempDir dir;
  Recipe recipe;
  recipe.method = c.kind == GridKind::kInt ? QuantMethod::kGptq : QuantMethod::kRtn;
  recipe.weights.kind = c.kind;
  recipe.weights.bits = c.bits;
  recipe.weights.symmetric = c.symmetric;
  recipe.weights.granularity = c.granularity;
  recipe.weights.group_size = 32;
  recipe.gptq.act_order = c.act_order;
  recipe.calibration.shards = 2;
  recipe.ignore.push_back("layers\\.1\\.self_attn\\.q_proj");
  if (c.kind == GridKind::kInt) {
    // Mixed precision: a second config group for the MLP's down projection.
    LayerOverride other;
    other.match = "mlp\\.down_proj";
    other.grid = recipe.weights;
    other.grid->bits = c.bits == 8 ? 4 : 8;
    recipe.overrides.push_back(other);
  }
  auto run = RunSmallJob(dir, recipe);
  ASSERT_TRUE(run.has_value());
  const auto written = WriteExport("compressed_tensors", dir / "quench.safetensors", run->spec,
                                   run->checkpoint, dir / "model", dir / "out");
  ASSERT_TRUE(written.ok()) << written;
  const auto out = dir / "out" / "compressed_tensors";
  const nlohmann::json config = QuantizationConfig(out);
  EXPECT_EQ(config["quant_method"], "compressed-tensors");
  EXPECT_EQ(config["quantization_status"], "compressed");
  EXPECT_EQ(config["format"], c.kind == GridKind::kFp8 ? "float-quantized" : "pack-quantized");
  EXPECT_EQ(config["config_groups"].size(), c.kind == GridKind::kInt ? 2u : 1u);
  for (const auto& [name, group] : config["config_groups"].items()) {
    EXPECT_TRUE(group["input_activations"].is_null()) << name;
    EXPECT_EQ(group["weights"]["actorder"].is_null(), !c.act_order) << name;
  }
  auto checkpoint = Checkpoint::Open(out);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_TRUE(checkpoint->Contains("model.layers.1.self_attn.q_proj.weight")) << "unquantized";
  auto ignored = CompressedTensorsGridForModule(config, "model.layers.1.self_attn.q_proj");
  ASSERT_TRUE(ignored.ok()) << ignored.status();
  EXPECT_FALSE(ignored->has_value());
  for (const auto& linear : run->quantized.linears) {
    const std::string& module = linear.plan.name;
    auto grid = CompressedTensorsGridForModule(config, module);
    ASSERT_TRUE(grid.ok()) << grid.status();
    ASSERT_TRUE(grid->has_value()) << module;
    EXPECT_EQ((*grid)->bits, linear.quantized.grid.bits) << module;
    auto read = ReadCompressedTensorsLinear(*checkpoint, module, **grid);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->codes, linear.quantized.codes) << module;
    EXPECT_EQ(read->g_idx, linear.quantized.g_idx) << module;
    ExpectSameWeights(*read, linear.quantized, module);
    if (c.kind != GridKind::kInt) continue;
    // First word of row 0, packed here the way compressed-tensors' pack_to_int32 does: 32/bits
    // codes per word, code i of the word at bit bits·i, each the signed value + 2^(bits-1).
    const int bits = linear.quantized.grid.bits;
    uint32_t expected = 0;
    for (int i = 0; i < 32 / bits; ++i)
      expected |= uint32_t{linear.quantized.codes[i]} << (bits * i);
    const Tensor packed = *checkpoint->Get(module + ".weight_packed");
    uint32_t word = 0;
    std::memcpy(&word, packed.raw_data(), 4);
    EXPECT_EQ(word, expected) << module;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grids, CompressedTensorsExportTest,
    ::testing::Values(CompressedTensorsCase{GridKind::kInt, 4, true, Granularity::kGroup, false},
                      CompressedTensorsCase{GridKind::kInt, 4, false, Granularity::kGroup, false},
                      CompressedTensorsCase{GridKind::kInt, 4, true, Granularity::kGroup, true},
                      CompressedTensorsCase{GridKind::kInt, 4, false, Granularity::kChannel, false},
                      CompressedTensorsCase{GridKind::kInt, 2, false, Granularity::kGroup, true},
                      CompressedTensorsCase{GridKind::kInt, 8, true, Granularity::kChannel, false},
                      CompressedTensorsCase{GridKind::kInt, 8, true, Granularity::kTensor, false},
                      CompressedTensorsCase{GridKind::kFp8, 8, true, Granularity::kChannel, false},
                      CompressedTensorsCase{GridKind::kFp8, 8, true, Granularity::kTensor, false}),
    [](const auto& info) {
      std::ostringstream name;
      PrintTo(info.param, &name);
      return name.str();
    });

TEST(CheckpointExportTest, CompressedTensorsScalesMustFitTheModelDtype) {
  GridSpec grid;
  grid.group_size = 32;
  grid.scale_dtype = DType::kF16;
  EXPECT_TRUE(CheckCompressedTensorsLinear(grid, 64, 64, DType::kF16).ok());
  EXPECT_TRUE(CheckCompressedTensorsLinear(grid, 64, 64, DType::kF32).ok());
  const auto status = CheckCompressedTensorsLinear(grid, 64, 64, DType::kBF16);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("scale_dtype: bf16"), std::string::npos) << status;
  grid.bits = 3;
  EXPECT_FALSE(CheckCompressedTensorsLinear(grid, 64, 64, DType::kF16).ok());
  grid.bits = 4;
  EXPECT_FALSE(CheckCompressedTensorsLinear(grid, 64, 48, DType::kF16).ok()) << "ragged group";
}

TEST(CheckpointExportTest, PlanCheckNamesTheLayerAndTheFix) {
  auto spec = ParseModelSpec(LlamaConfigJson(64, 172, 1, 4, 2, 128, 64), "test");
  ASSERT_TRUE(spec.ok()) << spec.status();
  Recipe recipe;
  recipe.method = QuantMethod::kGptq;
  recipe.outputs = {"fake_quant", "quench", "gptq"};
  auto plan = MakeQuantPlan(*spec, recipe);
  ASSERT_TRUE(plan.ok());
  auto status = CheckPlanForExports(*spec, *plan, recipe, DType::kF16);
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
  status = CheckPlanForExports(*spec, *plan, recipe, DType::kF16);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("static_groups"), std::string::npos) << status;
  recipe.gptq.static_groups = true;
  EXPECT_TRUE(CheckPlanForExports(*spec, *plan, recipe, DType::kF16).ok());
}

}  // namespace
}  // namespace quench
