// The driver's ShardWorker on connected workers. Each shard is placed on the worker with the
// most memory free (by the memory its device registered) that fits its activations; each call
// becomes a task on the shard's holder; a block's weights travel as the tensors that differ from
// the model, which workers read themselves. Results are the sums a LocalShardWorker returns, so the
// driver's shard-order reduction gives the same bytes however many workers there are — and
// whichever worker ends up holding a shard.
//
// Faults (DESIGN §6): a task whose worker is lost is tried again (a new attempt number) on a
// new holder, which first rebuilds the shard: it loads the shard's sequences and advances them
// through the blocks already finished, whose weights come from the job's lineage (its block
// checkpoints). A task that fails `max_attempts` times fails the job with its last error.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/job/shard_worker.h"
#include "core/model/model_weights.h"
#include "core/model/token_batch.h"
#include "server/worker_registry.h"

namespace quench::server {

struct RemoteShardOptions {
  int max_attempts = 3;  // per task
  // Where replacement workers come from (workers that connected after the job started); null:
  // only the job's first workers.
  WorkerRegistry* registry = nullptr;
  // With every worker lost: how long to wait for one to connect before the job fails.
  double worker_wait_s = 30.0;
  // Rebuilds lost shards; unset: losing a worker fails the job.
  ShardLineage lineage;
  // True when the job should stop: no more attempts, no more waiting for workers.
  std::function<bool()> cancelled;
  // Estimated activation memory a shard needs per calibration token on its holder (the held
  // hidden state and a block's intermediates); shards are placed where they fit.
  uint64_t activation_bytes_per_token = 0;
  // The device kind of the job's workers: replacements from the registry must be of it.
  v1::DeviceKind device_kind = v1::DEVICE_KIND_CPU;
};

class RemoteShardWorker final : public ShardWorker {
 public:
  RemoteShardWorker(std::vector<std::shared_ptr<ConnectedWorker>> workers, std::string job_id,
                    std::string model_path, const ModelWeights& original,
                    RemoteShardOptions options = {});
  // Tells every worker still connected to drop the job's shards.
  ~RemoteShardWorker() override;

  absl::Status LoadShard(int64_t shard, const TokenBatch& batch) override;
  absl::StatusOr<GroupStatistics> CollectStatistics(int64_t shard, const LayerWeights& weights,
                                                    InputGroup group, bool with_abs_sums) override;
  absl::Status AdvanceBlock(int64_t shard, const LayerWeights& weights) override;
  absl::StatusOr<std::vector<double>> CandidateLosses(int64_t shard, const LayerWeights& reference,
                                                      const std::vector<LayerWeights>& candidates,
                                                      InputGroup group) override;
  absl::StatusOr<Tensor> GroupInput(int64_t shard, const LayerWeights& weights,
                                    InputGroup group) override;

  // Each holder runs its shards one after another; different holders run at once.
  absl::Status CollectStatisticsEach(const std::vector<int64_t>& shards,
                                     const LayerWeights& weights, InputGroup group,
                                     bool with_abs_sums,
                                     const StatisticsCallback& on_result) override;
  absl::Status AdvanceBlockEach(const std::vector<int64_t>& shards,
                                const LayerWeights& weights) override;
  absl::Status CandidateLossesEach(const std::vector<int64_t>& shards,
                                   const LayerWeights& reference,
                                   const std::vector<LayerWeights>& candidates, InputGroup group,
                                   const LossesCallback& on_result) override;
  // Solve i goes to live worker i mod N; the workers solve at once.
  std::vector<absl::StatusOr<GptqResult>> SolveGptqEach(const std::vector<GptqSolve>& solves,
                                                        const GptqOptions& options) override;

 private:
  struct Shard {
    std::mutex rebuilding;  // one holder change at a time
    TokenBatch batch;
    bool loaded = false;  // LoadShard succeeded once: a new holder must rebuild it
    uint64_t bytes = 0;   // estimated activation memory on its holder
    // Guarded by mutex_:
    std::shared_ptr<ConnectedWorker> holder;  // null: none yet, or it was lost
    int64_t advanced = 0;                     // blocks its activations went through
  };

  // The task for each shard (made here, in order), run on the shards' holders in parallel;
  // `on_reply` sees the replies one at a time. The first failure is returned.
  absl::Status RunEach(const std::vector<int64_t>& shards,
                       const std::function<v1::Task(int64_t shard)>& make_task,
                       const std::vector<v1::TensorChunk>& tensors,
                       const std::function<absl::Status(int64_t shard, TaskReply)>& on_reply);
  // One task on the shard's holder, with attempts as the header says.
  absl::StatusOr<TaskReply> CallShard(int64_t shard, v1::Task task,
                                      const std::vector<v1::TensorChunk>& tensors);
  // The shard's live holder: its current one, or a new one that rebuilt it.
  absl::StatusOr<std::shared_ptr<ConnectedWorker>> HolderOf(int64_t shard);
  absl::Status Rebuild(int64_t shard, Shard& state, ConnectedWorker& worker);
  // The live workers; waits for one to connect when none is left.
  absl::StatusOr<std::vector<std::shared_ptr<ConnectedWorker>>> LiveWorkers();
  // Live worker `index` mod N (for solves, which hold nothing).
  absl::StatusOr<std::shared_ptr<ConnectedWorker>> PickWorker(int64_t index);
  // Where a shard of `bytes` of activations goes: the worker with the most memory free that
  // fits it; RESOURCE_EXHAUSTED, saying to raise calibration.shards, when none does.
  absl::StatusOr<std::shared_ptr<ConnectedWorker>> PlaceShard(int64_t shard, uint64_t bytes);
  // The worker is gone: none of its shards has a holder now.
  void Forget(const ConnectedWorker& worker);

  static absl::StatusOr<GroupStatistics> StatisticsFrom(TaskReply reply);
  static absl::StatusOr<std::vector<double>> LossesFrom(const TaskReply& reply, size_t expected);

  v1::Task NewTask();
  // The task that puts the shard's sequences on a worker (first load and rebuilds alike).
  v1::Task LoadShardTask(int64_t shard, const TokenBatch& batch);
  std::string NewBlobId(const char* prefix);
  // The block's description on the wire, its changed tensors appended to `tensors`.
  absl::StatusOr<v1::BlockWeights> Describe(const LayerWeights& weights,
                                            std::vector<v1::TensorChunk>& tensors);

  std::string job_id_;
  std::string model_path_;
  const ModelWeights& original_;
  RemoteShardOptions options_;
  std::atomic<int64_t> next_task_{0};
  std::atomic<int64_t> next_blob_{0};

  std::mutex mutex_;
  std::vector<std::shared_ptr<ConnectedWorker>> workers_;   // live ones this job uses
  std::vector<std::shared_ptr<ConnectedWorker>> released_;  // every worker it used
  std::map<int64_t, std::unique_ptr<Shard>> shards_;        // made by LoadShard
};

}  // namespace quench::server
