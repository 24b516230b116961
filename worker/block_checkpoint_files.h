// Block checkpoints as files: one safetensors file per finished block in a job's checkpoint
// directory, written under a temporary name, fsynced and renamed (so a file that exists is
// whole), holding every variant's quantized linears (codes, group parameters, g_idx, AWQ
// scales), reports, and the block tensors that differ from the model — except a linear's weight
// that is exactly its codes dequantized, which is derived again on load. A file whose key differs
// (another job, another release) does not count, and neither does any block after the first missing
// one.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/job/quantization_driver.h"

namespace quench::worker {

class BlockCheckpointDirectory : public BlockCheckpoints {
 public:
  // Creates `dir` when needed. `key` names what is checkpointed: the job's request and the
  // release that runs it.
  static absl::StatusOr<std::unique_ptr<BlockCheckpointDirectory>> Open(
      const std::filesystem::path& dir, std::string key);

  absl::StatusOr<int64_t> SavedBlocks() override;
  absl::Status Save(int64_t layer, const LayerWeights& original,
                    const std::vector<BlockResult>& variants) override;
  absl::StatusOr<std::vector<BlockResult>> Load(
      int64_t layer, const LayerWeights& original,
      const std::vector<const PlannedBlock*>& blocks) override;

  std::filesystem::path BlockPath(int64_t layer) const;

 private:
  BlockCheckpointDirectory(std::filesystem::path dir, std::string key)
      : dir_(std::move(dir)), key_(std::move(key)) {}
  std::filesystem::path dir_;
  std::string key_;
};

}  // namespace quench::worker
