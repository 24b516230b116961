// Block checkpoints (DESIGN §6): a job stopped after some blocks and run again resumes after the
// blocks it saved — no statistics gathered and nothing solved for them — and writes the same
// bytes as a run that was never interrupted, for GPTQ, AWQ and a two-solve GGUF job.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "core/model/forward.h"
#include "core/model/model_spec.h"
#include "core/model/testgen.h"
#include "core/recipe/recipe.h"
#include "core/report/html_report.h"
#include "core/util/atomic_file.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/core/synthetic_model.h"
#include "tests/core/test_paths.h"
#include "worker/block_checkpoint_files.h"
#include "worker/local_job.h"

namespace quench::worker {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Forwards to an in-process shard worker and records which blocks statistics were gathered for.
class CountingShardWorker : public ShardWorker {
 public:
  // `worked` outlives the worker (the job destroys it before returning).
  CountingShardWorker(const ModelSpec& spec, const ModelWeights& weights, std::set<int64_t>& worked)
      : worked_(worked),
        backend_(kernels::MakeCpuBackend()),
        transformer_(spec, weights, *backend_),
        inner_(MakeLocalShardWorker(transformer_)) {}

  absl::Status LoadShard(int64_t shard, const TokenBatch& batch) override {
    return inner_->LoadShard(shard, batch);
  }
  absl::StatusOr<GroupStatistics> CollectStatistics(int64_t shard, const LayerWeights& weights,
                                                    InputGroup group, bool with_abs_sums) override {
    Record(weights.index);
    return inner_->CollectStatistics(shard, weights, group, with_abs_sums);
  }
  absl::Status AdvanceBlock(int64_t shard, const LayerWeights& weights) override {
    return inner_->AdvanceBlock(shard, weights);
  }
  absl::StatusOr<std::vector<double>> CandidateLosses(int64_t shard, const LayerWeights& reference,
                                                      const std::vector<LayerWeights>& candidates,
                                                      InputGroup group) override {
    Record(reference.index);
    return inner_->CandidateLosses(shard, reference, candidates, group);
  }
  absl::StatusOr<Tensor> GroupInput(int64_t shard, const LayerWeights& weights,
                                    InputGroup group) override {
    Record(weights.index);
    return inner_->GroupInput(shard, weights, group);
  }

 private:
  void Record(int64_t block) {
    std::lock_guard lock(mutex_);
    worked_.insert(block);
  }
  std::set<int64_t>& worked_;
  std::mutex mutex_;
  std::unique_ptr<kernels::Backend> backend_;
  Transformer transformer_;
  std::unique_ptr<ShardWorker> inner_;
};

struct JobRun {
  std::map<std::string, std::string> files;  // every output but report.json, by name
  nlohmann::ordered_json report;
  std::set<int64_t> worked_blocks;  // blocks the shards computed statistics or losses for
  std::vector<std::string> block_messages;
};

JobRun RunJob(const fs::path& model, const Recipe& recipe, const fs::path& out,
              BlockCheckpoints* checkpoints) {
  JobRun run;
  const ModelSpec spec = *LoadModelSpec(model);
  LocalJobCallbacks callbacks;
  callbacks.checkpoints = checkpoints;
  callbacks.make_shard_worker = [&](const ModelWeights& weights, ShardLineage) {
    return std::make_unique<CountingShardWorker>(spec, weights, run.worked_blocks);
  };
  callbacks.progress = [&](const DriverProgress& progress) {
    if (!progress.finished_layers.empty()) run.block_messages.push_back(progress.stage);
  };
  auto result = RunLocalJob(model, recipe, out, callbacks);
  EXPECT_TRUE(result.ok()) << result.status();
  if (!result.ok()) return run;
  run.report = result->report;
  for (const std::string& name : result->files) {
    if (!IsRunReport(name)) run.files[name] = ReadFileToString(out / name).value_or("missing");
  }
  return run;
}

class BlockCheckpointTest : public ::testing::TestWithParam<const char*> {};

TEST_P(BlockCheckpointTest, ResumedJobSkipsSavedBlocksAndWritesTheSameBytes) {
  TempDir dir;
  const bool gguf = std::string(GetParam()).find("gguf") != std::string::npos;
  const int64_t hidden = gguf ? 256 : 64;  // k-quants need 256-wide rows
  testing::WriteSyntheticModel(dir / "model", LlamaConfigJson(hidden, 2 * hidden, 4, 4, 2, 96, 64),
                               11);
  std::mt19937 random(3);
  std::string tokens;
  for (int s = 0; s < 12; ++s) {
    tokens += "{\"input_ids\": [";
    for (int t = 0; t < 24; ++t) tokens += (t ? ", " : "") + std::to_string(random() % 96);
    tokens += "]}\n";
  }
  ASSERT_TRUE(WriteFileAtomically(dir / "calib.jsonl", tokens).ok());
  Recipe recipe = *LoadPreset(GetParam());
  recipe.calibration.path = (dir / "calib.jsonl").string();
  recipe.calibration.shards = 3;

  const JobRun clean = RunJob(dir / "model", recipe, dir / "clean", nullptr);
  auto checkpoints = *BlockCheckpointDirectory::Open(dir / "checkpoints", "job-a");
  const JobRun saved = RunJob(dir / "model", recipe, dir / "saved", checkpoints.get());
  EXPECT_EQ(*checkpoints->SavedBlocks(), 4);
  EXPECT_EQ(saved.files, clean.files) << "saving checkpoints changes nothing";

  // As if the job had stopped during block 2: blocks 0 and 1 are saved.
  fs::remove(checkpoints->BlockPath(2));
  fs::remove(checkpoints->BlockPath(3));
  const JobRun resumed = RunJob(dir / "model", recipe, dir / "resumed", checkpoints.get());
  ASSERT_EQ(resumed.files.size(), clean.files.size());
  for (const auto& [name, bytes] : clean.files) {
    EXPECT_TRUE(resumed.files.at(name) == bytes) << name << " differs after resuming";
  }
  ASSERT_EQ(resumed.report["layers"].size(), clean.report["layers"].size());
  for (size_t i = 0; i < clean.report["layers"].size(); ++i) {
    auto resumed_layer = resumed.report["layers"][i], clean_layer = clean.report["layers"][i];
    resumed_layer.erase("seconds");
    clean_layer.erase("seconds");
    EXPECT_EQ(resumed_layer, clean_layer) << "a restored block reports what it reported";
  }
  EXPECT_EQ(resumed.worked_blocks, (std::set<int64_t>{2, 3}))
      << "statistics were gathered again for a saved block";
  ASSERT_EQ(resumed.block_messages.size(), 4u);
  EXPECT_EQ(resumed.block_messages[0], "block 0 restored from its checkpoint");
  EXPECT_EQ(resumed.block_messages[1], "block 1 restored from its checkpoint");
  EXPECT_EQ(resumed.block_messages[2], "block 2 done");
}

INSTANTIATE_TEST_SUITE_P(Methods, BlockCheckpointTest,
                         ::testing::Values("gptq-w4g32", "awq-w4g32", "gptq-gguf-q4_k_m"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = std::isalnum(c) ? c : '_';
                           return name;
                         });

// Checkpoints of another job (or release), a damaged file, or a gap: the job solves from there.
TEST(BlockCheckpointDirectoryTest, CountsOnlyLeadingReadableBlocksWithTheJobsKey) {
  TempDir dir;
  auto mine = *BlockCheckpointDirectory::Open(dir.path(), "job-a");
  auto theirs = *BlockCheckpointDirectory::Open(dir.path(), "job-b");
  EXPECT_EQ(*mine->SavedBlocks(), 0);
  LayerWeights block;
  block.index = 0;
  ASSERT_TRUE(mine->Save(0, block, {BlockResult{block, {}, {}}}).ok());
  block.index = 1;
  ASSERT_TRUE(mine->Save(1, block, {BlockResult{block, {}, {}}}).ok());
  EXPECT_EQ(*mine->SavedBlocks(), 2);
  EXPECT_EQ(*theirs->SavedBlocks(), 0) << "another job's key";
  {
    std::ofstream damaged(mine->BlockPath(1), std::ios::trunc);
    damaged << "not safetensors";
  }
  EXPECT_EQ(*mine->SavedBlocks(), 1) << "a damaged block is solved again";
  fs::remove(mine->BlockPath(0));
  EXPECT_EQ(*mine->SavedBlocks(), 0) << "nothing after a gap counts";
}

}  // namespace
}  // namespace quench::worker
