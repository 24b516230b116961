// `quench local quantize` as a user runs it: real processes, artifacts checked from outside.
#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <string>
#include <thread>

#include "core/util/atomic_file.h"
#include "nlohmann/json.hpp"
#include "tests/cli/daemon_process.h"
#include "tests/cli/run_command.h"
#include "tests/core/test_paths.h"

namespace quench {
namespace {

using testing::SharedPath;
using testing::TempDir;

const std::string kQuench = testing::QuenchBinary();

// DESIGN §5: the same bytes with 1, 2 and 4 threads.
TEST(LocalQuantizeTest, ArtifactsAreByteIdenticalAcrossThreadCounts) {
  TempDir dir;
  const auto model = dir / "model";
  const auto tokens = dir / "tokens.jsonl";
  auto made = testing::RunCommand(
      kQuench +
      " testgen --hidden 96 --intermediate 160 --layers 2 --heads 6 --kv-heads 3 "
      "--vocab 300 --context 128 --seed 4 --out " +
      model.string() + " --tokens-out " + tokens.string() +
      " --token-sequences 16 --token-length 64");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  std::vector<std::string> quench_bytes, fake_bytes;
  for (int threads : {1, 2, 4}) {
    const auto out = dir / ("out" + std::to_string(threads));
    auto run = testing::RunCommand("QUENCH_NUM_THREADS=" + std::to_string(threads) + " " + kQuench +
                                   " local quantize --model " + model.string() +
                                   " --preset gptq-w4g32 --calib " + tokens.string() +
                                   " --shards 4 --out " + out.string() + " --json");
    ASSERT_EQ(run.exit_code, 0) << run.output;
    quench_bytes.push_back(ReadFileToString(out / "quench.safetensors").value_or("missing"));
    fake_bytes.push_back(
        ReadFileToString(out / "fake_quant/model.safetensors").value_or("missing"));
  }
  EXPECT_GT(quench_bytes[0].size(), 1000u);
  EXPECT_EQ(quench_bytes[0], quench_bytes[1]);
  EXPECT_EQ(quench_bytes[0], quench_bytes[2]);
  EXPECT_EQ(fake_bytes[0], fake_bytes[1]);
  EXPECT_EQ(fake_bytes[0], fake_bytes[2]);
}

// The fake-quant directory is a model any tool can evaluate: `quench eval --reference` on it
// reproduces the job's own report.
TEST(LocalQuantizeTest, FakeQuantModelReproducesTheReport) {
  const auto model = SharedPath("models/stories260K");
  const auto eval = SharedPath("data/stories260K-eval.jsonl");
  QUENCH_REQUIRE_SHARED(model);
  QUENCH_REQUIRE_SHARED(eval);
  TempDir dir;
  auto run = testing::RunCommand(kQuench + " local quantize --model " + model.string() +
                                 " --preset rtn-w4g32 --eval " + eval.string() + " --out " +
                                 dir.path().string() + " --json");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto report =
      nlohmann::json::parse(ReadFileToString(dir / "report.json").value_or(""), nullptr, false);
  ASSERT_TRUE(report.is_object());
  EXPECT_EQ(report["layers"].size(), 35u);
  auto eval_run =
      testing::RunCommand(kQuench + " eval --json --model " + (dir / "fake_quant").string() +
                          " --reference " + model.string() + " --tokens " + eval.string());
  ASSERT_EQ(eval_run.exit_code, 0) << eval_run.output;
  const auto eval_json = nlohmann::json::parse(eval_run.output, nullptr, false);
  ASSERT_TRUE(eval_json.is_object()) << eval_run.output;
  EXPECT_NEAR(eval_json["kl_divergence"].get<double>(),
              report["evaluation"]["kl_divergence"].get<double>(), 1e-6);
  EXPECT_NEAR(eval_json["perplexity"].get<double>(),
              report["evaluation"]["perplexity"].get<double>(), 1e-6);
  EXPECT_NEAR(eval_json["reference_perplexity"].get<double>(), 4.229785, 1e-4);
  EXPECT_GT(eval_json["kl_divergence"].get<double>(), 0.0);
}

// SIGTERM / Ctrl-C while the job runs: the job is cancelled, the command exits 130 promptly, and
// the output directory holds nothing (not even the private store it ran in).
TEST(LocalQuantizeTest, InterruptCancelsTheJobAndLeavesNothing) {
  TempDir dir;
  auto made = testing::RunCommand(
      kQuench +
      " testgen --hidden 512 --intermediate 1024 --layers 8 --heads 8 --kv-heads 4 "
      "--vocab 512 --seed 5 --out " +
      (dir / "model").string() + " --tokens-out " + (dir / "tokens.jsonl").string() +
      " --token-sequences 32 --token-length 128");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const auto out = dir / "out";
  testing::DaemonProcess job(
      kQuench,
      {"local", "quantize", "--model", (dir / "model").string(), "--preset", "gptq-w4g128",
       "--calib", (dir / "tokens.jsonl").string(), "--out", out.string()},
      dir / "job.log");
  // The job is running once its store exists; give it a moment into its first block.
  for (int i = 0; i < 600 && !std::filesystem::exists(out / ".quench-local" / "jobs.db"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::filesystem::exists(out / ".quench-local" / "jobs.db"));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto stop_start = std::chrono::steady_clock::now();
  EXPECT_EQ(job.Stop(), 130) << ReadFileToString(dir / "job.log").value_or("");
  std::cout << "stopped "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - stop_start).count()
            << " s after the signal\n";
  EXPECT_NE(ReadFileToString(dir / "job.log").value_or("").find("interrupted"), std::string::npos);
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(out)) {
    left.push_back(entry.path().filename().string());
  }
  EXPECT_TRUE(left.empty()) << "left in --out: " << left.front();
}

TEST(LocalQuantizeTest, ClearErrors) {
  TempDir dir;
  auto no_recipe =
      testing::RunCommand(kQuench + " local quantize --model x --out " + dir.path().string());
  EXPECT_NE(no_recipe.exit_code, 0);
  EXPECT_NE(no_recipe.output.find("--recipe FILE or --preset NAME"), std::string::npos)
      << no_recipe.output;
  auto no_gpu = testing::RunCommand(kQuench + " local quantize --model x --preset rtn-w4g32 " +
                                    "--device cuda:7 --out " + dir.path().string());
  EXPECT_EQ(no_gpu.exit_code, 1);
  EXPECT_NE(no_gpu.output.find("--device cuda:7"), std::string::npos) << no_gpu.output;
  EXPECT_FALSE(std::filesystem::exists(dir / ".quench-local")) << "nothing started";
  auto bad_preset = testing::RunCommand(kQuench + " local quantize --model x --preset nope --out " +
                                        dir.path().string());
  EXPECT_EQ(bad_preset.exit_code, 1);
  EXPECT_NE(bad_preset.output.find("gptq-w4g128"), std::string::npos)
      << "lists the presets: " << bad_preset.output;
  const auto model = SharedPath("models/stories260K");
  QUENCH_REQUIRE_SHARED(model);
  auto no_calib = testing::RunCommand(kQuench + " local quantize --model " + model.string() +
                                      " --preset gptq-w4g32 --out " + dir.path().string());
  EXPECT_EQ(no_calib.exit_code, 1);
  EXPECT_NE(no_calib.output.find("calibration"), std::string::npos) << no_calib.output;
}

// A recipe listing checkpoint formats gets them from the job, and `quench export` writes the
// same bytes again from the job's directory without solving.
TEST(LocalQuantizeTest, RecipeOutputsAndExportCommandWriteTheSameCheckpoints) {
  TempDir dir;
  auto testgen = testing::RunCommand(
      kQuench + " testgen --hidden 64 --intermediate 128 --layers 1 --heads 4 --kv-heads 2 " +
      "--vocab 96 --dtype F16 --seed 2 --out " + (dir / "model").string());
  ASSERT_EQ(testgen.exit_code, 0) << testgen.output;
  auto show = testing::RunCommand(kQuench + " recipe show rtn-w4g32");
  ASSERT_EQ(show.exit_code, 0);
  const std::string recipe =
      show.output.replace(show.output.find("  - quench\n"), 11,
                          "  - quench\n  - gptq\n  - awq\n  - compressed_tensors\n");
  ASSERT_TRUE(WriteFileAtomically(dir / "recipe.yaml", recipe).ok());
  auto job = testing::RunCommand(kQuench + " local quantize --model " + (dir / "model").string() +
                                 " --recipe " + (dir / "recipe.yaml").string() + " --out " +
                                 (dir / "job").string());
  ASSERT_EQ(job.exit_code, 0) << job.output;
  auto exported = testing::RunCommand(
      kQuench + " export --job " + (dir / "job").string() + " --model " + (dir / "model").string() +
      " --format gptq --format awq --format compressed_tensors --out " + (dir / "again").string());
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  for (const char* format : {"gptq", "awq", "compressed_tensors"}) {
    const auto first = ReadFileToString(dir / "job" / format / "model.safetensors");
    const auto second = ReadFileToString(dir / "again" / format / "model.safetensors");
    ASSERT_TRUE(first.ok() && second.ok()) << format;
    EXPECT_EQ(*first, *second) << format;
    EXPECT_TRUE(std::filesystem::exists(dir / "job" / format / "config.json")) << format;
  }
  // inspect decodes every quantized module of each checkpoint with the format's reader.
  for (const auto& [format, quant_method] :
       {std::pair{"gptq", "gptq"}, {"awq", "awq"}, {"compressed_tensors", "compressed-tensors"}}) {
    auto inspect = testing::RunCommand(kQuench + " inspect --json " +
                                       (dir / "job" / format).string() + " 2>/dev/null");
    ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
    const auto listed = nlohmann::json::parse(inspect.output, nullptr, false);
    ASSERT_FALSE(listed.is_discarded()) << inspect.output;
    EXPECT_EQ(listed["quantized"]["format"], quant_method);
    ASSERT_EQ(listed["quantized"]["modules"].size(), 7u) << format;  // one layer's linears
    for (const auto& module : listed["quantized"]["modules"]) {
      EXPECT_NE(module["grid"].get<std::string>().find("int4"), std::string::npos) << module;
      EXPECT_EQ(module["groups_per_row"].get<int64_t>(), module["shape"][1].get<int64_t>() / 32)
          << module;
    }
  }
  auto missing = testing::RunCommand(kQuench + " export --job " + (dir / "nope").string() +
                                     " --model " + (dir / "model").string() + " --format gptq");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("--out directory of `quench local quantize`"), std::string::npos)
      << missing.output;
}

TEST(LocalQuantizeTest, GgufPresetWritesAFileThatInspectAndEvalRead) {
  TempDir dir;
  auto testgen = testing::RunCommand(
      kQuench + " testgen --hidden 64 --intermediate 128 --layers 1 --heads 4 --kv-heads 2 " +
      "--vocab 96 --seed 3 --out " + (dir / "model").string());
  ASSERT_EQ(testgen.exit_code, 0) << testgen.output;
  auto job = testing::RunCommand(kQuench + " local quantize --model " + (dir / "model").string() +
                                 " --preset rtn-gguf-q8_0 --out " + (dir / "job").string());
  ASSERT_EQ(job.exit_code, 0) << job.output;
  const auto gguf = dir / "job" / "model.gguf";
  auto inspect = testing::RunCommand(kQuench + " inspect --json " + gguf.string() + " 2>/dev/null");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.output;
  const auto listed = nlohmann::json::parse(inspect.output, nullptr, false);
  ASSERT_FALSE(listed.is_discarded()) << inspect.output;
  EXPECT_EQ(listed["metadata"]["general.file_type"]["value"], 7) << "LLAMA_FTYPE_MOSTLY_Q8_0";
  EXPECT_EQ(listed["metadata"]["llama.block_count"]["type"], "u32");
  int q8_tensors = 0;
  for (const auto& tensor : listed["tensors"]) q8_tensors += tensor["type"] == "Q8_0";
  EXPECT_EQ(q8_tensors, 7);
  // Random token ids as evaluation data; the .gguf and fake_quant/ evaluate the same.
  ASSERT_TRUE(WriteFileAtomically(dir / "eval.jsonl",
                                  "{\"input_ids\": [1, 5, 9, 33, 2, 70, 12, 4]}\n"
                                  "{\"input_ids\": [3, 3, 8, 91, 40, 17]}\n")
                  .ok());
  std::string results[2];
  for (int i = 0; i < 2; ++i) {
    const auto model = i == 0 ? gguf : dir / "job" / "fake_quant";
    auto eval = testing::RunCommand(kQuench + " eval --json --model " + model.string() +
                                    " --reference " + (dir / "model").string() + " --tokens " +
                                    (dir / "eval.jsonl").string() + " 2>/dev/null");
    ASSERT_EQ(eval.exit_code, 0) << eval.output;
    const auto parsed = nlohmann::json::parse(eval.output, nullptr, false);
    ASSERT_FALSE(parsed.is_discarded()) << eval.output;
    results[i] = parsed["kl_divergence"].dump() + " " + parsed["perplexity"].dump();
  }
  EXPECT_EQ(results[0], results[1]);
}

}  // namespace
}  // namespace quench
