// DESIGN §5: for a fixed shard count, the same artifacts whatever order the shards are
// visited in (the driver reduces partials in shard order), for GPTQ and AWQ.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "core/util/atomic_file.h"

#include "core/export/fake_quant_writer.h"
#include "core/export/model_tensors.h"
#include "core/export/quench_artifact.h"
#include "core/model/testgen.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/core/test_paths.h"
#include "tests/job/job_test_support.h"

namespace quench {
namespace {

using testing::TempDir;

std::string FileBytes(const std::filesystem::path& path) {
  return ReadFileToString(path).value_or("(missing)");
}

class ShardOrderTest : public ::testing::TestWithParam<QuantMethod> {};

TEST_P(ShardOrderTest, ShuffledShardOrderGivesIdenticalArtifacts) {
  TempDir dir;
  TestgenOptions options;
  options.seed = 11;
  ASSERT_TRUE(
      WriteSyntheticModel(dir / "model", LlamaConfigJson(64, 96, 2, 4, 2, 128, 64), options).ok());
  const TokenSequences calibration = testing::RandomSequences(128, 12, 32, 5);
  Recipe recipe;
  recipe.name = "determinism";
  recipe.method = GetParam();
  recipe.weights.symmetric = GetParam() != QuantMethod::kAwq;
  recipe.weights.group_size = 32;
  recipe.gptq.act_order = true;
  recipe.awq.scale_grid = 5;
  recipe.calibration.shards = 4;

  std::vector<std::string> artifacts;
  for (const std::vector<int64_t>& order :
       {std::vector<int64_t>{0, 1, 2, 3}, {2, 0, 3, 1}, {3, 2, 1, 0}}) {
    DriverOptions driver;
    driver.shard_visit_order = order;
    auto run = testing::RunJob(dir / "model", recipe, calibration, {}, driver);
    ASSERT_TRUE(run.has_value());
    const auto path = dir / ("q" + std::to_string(artifacts.size()) + ".safetensors");
    ASSERT_TRUE(testing::WriteQuenchArtifact(*run, path).ok());
    artifacts.push_back(FileBytes(path));
  }
  EXPECT_EQ(artifacts[0], artifacts[1]);
  EXPECT_EQ(artifacts[0], artifacts[2]);
}

// One calibration pass, two grids (a safetensors output on int4 g32, the gguf output on
// Q4_K_M): each variant's result is exactly what a job with that plan alone produces.
class VariantsTest : public ::testing::TestWithParam<QuantMethod> {};

TEST_P(VariantsTest, TwoPlansInOnePassMatchSeparateRuns) {
  TempDir dir;
  TestgenOptions options;
  options.seed = 13;
  ASSERT_TRUE(
      WriteSyntheticModel(dir / "model", LlamaConfigJson(256, 512, 2, 4, 2, 128, 64), options)
          .ok());
  const TokenSequences calibration = testing::RandomSequences(128, 6, 32, 7);
  Recipe safetensors;
  safetensors.method = GetParam();
  safetensors.weights.symmetric = false;
  safetensors.weights.group_size = 32;
  safetensors.gptq.act_order = true;
  safetensors.gptq.static_groups = true;
  safetensors.awq.scale_grid = 4;
  safetensors.awq.clip_grid = 4;
  safetensors.calibration.shards = 3;
  Recipe gguf = safetensors;
  gguf.gguf.type = "q4_k_m";

  auto alone_safetensors = testing::RunJob(dir / "model", safetensors, calibration, {});
  auto alone_gguf = testing::RunJob(dir / "model", gguf, calibration, {});
  ASSERT_TRUE(alone_safetensors && alone_gguf);

  auto spec = LoadModelSpec(dir / "model");
  auto checkpoint = Checkpoint::Open(dir / "model");
  ASSERT_TRUE(spec.ok() && checkpoint.ok());
  auto weights = LoadModelWeights(*spec, *checkpoint);
  auto plan_safetensors = MakeQuantPlan(*spec, safetensors);
  auto plan_gguf = MakeQuantPlan(*spec, gguf);
  ASSERT_TRUE(weights.ok() && plan_safetensors.ok() && plan_gguf.ok());
  auto backend = kernels::MakeCpuBackend();
  Transformer original(*spec, *weights, *backend);
  auto worker = MakeLocalShardWorker(original);
  CollectingSink first, second;
  auto outcomes = RunQuantizationJobVariants(
      *spec, *weights, {{&*plan_safetensors, {&first}}, {&*plan_gguf, {&second}}}, safetensors,
      calibration, *worker);
  ASSERT_TRUE(outcomes.ok()) << outcomes.status();
  ASSERT_EQ(outcomes->size(), 2u);
  EXPECT_EQ((*outcomes)[0].calibration_tokens, alone_safetensors->outcome.calibration_tokens);

  const auto expect_same = [](const std::vector<QuantizedLinear>& together,
                              const std::vector<QuantizedLinear>& alone) {
    ASSERT_EQ(together.size(), alone.size());
    for (size_t i = 0; i < alone.size(); ++i) {
      const QuantizedTensor& a = together[i].quantized;
      const QuantizedTensor& b = alone[i].quantized;
      SCOPED_TRACE(alone[i].plan.name);
      EXPECT_EQ(a.grid.ToString(), b.grid.ToString());
      EXPECT_EQ(a.codes, b.codes);
      EXPECT_EQ(a.g_idx, b.g_idx);
      const Tensor x = a.Dequantize(), y = b.Dequantize();
      EXPECT_EQ(std::memcmp(x.raw_data(), y.raw_data(), x.num_bytes()), 0);
    }
  };
  expect_same(first.linears, alone_safetensors->quantized.linears);
  expect_same(second.linears, alone_gguf->quantized.linears);
  ASSERT_FALSE(second.linears.empty());
  EXPECT_EQ(second.linears[0].quantized.grid.kind, GridKind::kGgml);
  EXPECT_EQ(first.linears[0].quantized.grid.kind, GridKind::kInt);
}

INSTANTIATE_TEST_SUITE_P(Methods, VariantsTest,
                         ::testing::Values(QuantMethod::kGptq, QuantMethod::kAwq),
                         [](const auto& info) { return std::string(QuantMethodName(info.param)); });

INSTANTIATE_TEST_SUITE_P(Methods, ShardOrderTest,
                         ::testing::Values(QuantMethod::kGptq, QuantMethod::kAwq),
                         [](const auto& info) { return std::string(QuantMethodName(info.param)); });

TEST(QuenchArtifactTest, RoundTripsCodesScalesAndGroups) {
  TempDir dir;
  TestgenOptions options;
  options.seed = 3;
  ASSERT_TRUE(
      WriteSyntheticModel(dir / "model", LlamaConfigJson(64, 96, 1, 4, 2, 128, 64), options).ok());
  Recipe recipe;
  recipe.method = QuantMethod::kGptq;
  recipe.weights.symmetric = false;
  recipe.weights.group_size = 16;
  recipe.gptq.act_order = true;
  recipe.calibration.shards = 2;
  auto run = testing::RunJob(dir / "model", recipe, testing::RandomSequences(128, 4, 16, 1), {});
  ASSERT_TRUE(run.has_value());
  const auto path = dir / "quench.safetensors";
  ASSERT_TRUE(testing::WriteQuenchArtifact(*run, path).ok());
  auto read = ReadQuenchArtifact(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), run->quantized.linears.size());
  for (const auto& linear : run->quantized.linears) {
    const QuantizedTensor& back = read->at(linear.plan.name);
    EXPECT_EQ(back.codes, linear.quantized.codes);
    EXPECT_EQ(back.g_idx, linear.quantized.g_idx);
    const Tensor a = back.Dequantize(), b = linear.quantized.Dequantize();
    EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.num_bytes()), 0) << linear.plan.name;
  }
}

}  // namespace
}  // namespace quench

namespace quench {
namespace {

TEST(EmbeddingQuantizationTest, EmbeddingIsQuantizedAndStored) {
  testing::TempDir dir;
  TestgenOptions options;
  options.seed = 8;
  ASSERT_TRUE(
      WriteSyntheticModel(dir / "model", LlamaConfigJson(64, 96, 1, 4, 2, 128, 64), options).ok());
  Recipe recipe;
  recipe.method = QuantMethod::kRtn;
  recipe.embedding.enabled = true;
  recipe.embedding.grid.bits = 8;
  recipe.embedding.grid.granularity = Granularity::kChannel;
  auto run = testing::RunJob(dir / "model", recipe, {}, {});
  ASSERT_TRUE(run.has_value());
  ASSERT_TRUE(run->quantized.embedding.has_value());
  const Tensor& before = run->original.embedding;
  const Tensor& after = run->quantized.weights.embedding;
  ASSERT_EQ(before.num_elements(), after.num_elements());
  double error = 0.0, norm = 0.0;
  for (int64_t i = 0; i < before.num_elements(); ++i) {
    const double d = after.data<float>()[i] - before.data<float>()[i];
    error += d * d;
    norm += double(before.data<float>()[i]) * before.data<float>()[i];
  }
  EXPECT_GT(error, 0.0) << "the embedding must change";
  EXPECT_LT(error / norm, 1e-3) << "int8 per-row keeps it close";
  const auto path = dir / "quench.safetensors";
  ASSERT_TRUE(testing::WriteQuenchArtifact(*run, path).ok());
  auto read = ReadQuenchArtifact(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->count("model.embed_tokens"), 1u);
}

TEST(FakeQuantWriterTest, StreamsTheQuantizedModelInTheSourceDtype) {
  testing::TempDir dir;
  TestgenOptions options;
  options.seed = 5;
  options.dtype = DType::kBF16;
  ASSERT_TRUE(
      WriteSyntheticModel(dir / "model", LlamaConfigJson(64, 96, 2, 4, 2, 128, 64), options).ok());
  Recipe recipe;
  recipe.method = QuantMethod::kAwq;  // AWQ also rescales norms: every kind of tensor changes
  recipe.weights.symmetric = false;
  recipe.weights.group_size = 32;
  recipe.awq.scale_grid = 4;
  recipe.calibration.shards = 2;
  auto run = testing::RunJob(dir / "model", recipe, testing::RandomSequences(128, 4, 16, 2), {});
  ASSERT_TRUE(run.has_value());
  {
    auto writer =
        FakeQuantWriter::Create(dir / "model", run->spec, run->checkpoint, dir / "fake", {});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE(testing::ReplayInto(*run, **writer).ok());
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "fake" / "config.json"));
  auto written = Checkpoint::Open(dir / "fake");
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->TensorNames(), run->checkpoint.TensorNames());
  int changed = 0;
  for (const auto& [name, expected] : NamedModelTensors(run->spec, run->quantized.weights)) {
    auto tensor = written->Get(name);
    ASSERT_TRUE(tensor.ok()) << name;
    ASSERT_EQ(tensor->dtype(), DType::kBF16) << name;
    const Tensor back = tensor->ToFloat32();
    const Tensor original = run->checkpoint.Get(name)->ToFloat32();
    bool differs = false;
    for (int64_t i = 0; i < expected.num_elements(); ++i) {
      // Each value is the job's fp32 result rounded to bf16 (8 significant bits).
      const float want = expected.data<float>()[i], got = back.data<float>()[i];
      ASSERT_LE(std::fabs(got - want), std::fabs(want) * (1.0f / 256) + 1e-30f) << name << " " << i;
      differs |= got != original.data<float>()[i];
    }
    changed += differs;
  }
  EXPECT_GE(changed, 2 * 9) << "every linear and norm of both blocks is rewritten";
}

}  // namespace
}  // namespace quench
