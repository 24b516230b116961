// The driver's ShardWorker on connected workers: shard s lives on worker s mod N (the workers
// taken when the job starts). Each call becomes a task on that worker; a block's weights travel
// as the tensors that differ from the model, which the worker reads itself from the same path.
// Results are the same sums a LocalShardWorker returns, so the driver's shard-order reduction
// gives the same bytes however many workers there are.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/job/shard_worker.h"
#include "core/model/model_weights.h"
#include "server/worker_registry.h"

namespace quench::server {

class RemoteShardWorker final : public ShardWorker {
 public:
  RemoteShardWorker(std::vector<std::shared_ptr<ConnectedWorker>> workers, std::string job_id,
                    std::string model_path, const ModelWeights& original);
  // Tells every worker to drop the job's shards.
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

  // Each worker runs its shards one after another; different workers run at once.
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
  // Solve i goes to worker i mod N; the workers solve at once.
  std::vector<absl::StatusOr<GptqResult>> SolveGptqEach(const std::vector<GptqSolve>& solves,
                                                        const GptqOptions& options) override;

 private:
  // The task for each shard (made here, in order), run on the shards' workers in parallel;
  // `on_reply` sees the replies one at a time. The first failure is returned.
  absl::Status RunEach(const std::vector<int64_t>& shards,
                       const std::function<v1::Task(int64_t shard)>& make_task,
                       const std::vector<v1::TensorChunk>& tensors,
                       const std::function<absl::Status(int64_t shard, TaskReply)>& on_reply);
  static absl::StatusOr<GroupStatistics> StatisticsFrom(TaskReply reply);
  static absl::StatusOr<std::vector<double>> LossesFrom(const TaskReply& reply, size_t expected);

  v1::Task NewTask();
  // The block's description on the wire, its changed tensors appended to `tensors`.
  absl::StatusOr<v1::BlockWeights> Describe(const LayerWeights& weights,
                                            std::vector<v1::TensorChunk>& tensors);
  absl::StatusOr<TaskReply> Run(int64_t shard, const v1::Task& task,
                                const std::vector<v1::TensorChunk>& tensors);

  std::vector<std::shared_ptr<ConnectedWorker>> workers_;
  std::string job_id_;
  std::string model_path_;
  const ModelWeights& original_;
  int64_t next_task_ = 0;
  int64_t next_blob_ = 0;
};

}  // namespace quench::server
