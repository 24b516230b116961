#include "server/remote_shard_worker.h"

#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "worker/solve_wire.h"
#include "worker/task_executor.h"
#include "worker/tensor_wire.h"

namespace quench::server {

RemoteShardWorker::RemoteShardWorker(std::vector<std::shared_ptr<ConnectedWorker>> workers,
                                     std::string job_id, std::string model_path,
                                     const ModelWeights& original)
    : workers_(std::move(workers)),
      job_id_(std::move(job_id)),
      model_path_(std::move(model_path)),
      original_(original) {}

RemoteShardWorker::~RemoteShardWorker() {
  v1::CoordinatorMessage release;
  release.set_release_job_id(job_id_);
  for (const auto& worker : workers_) worker->Send(release);
}

v1::Task RemoteShardWorker::NewTask() {
  v1::Task task;
  task.set_task_id(absl::StrCat(job_id_, "/", next_task_++));
  task.set_job_id(job_id_);
  task.set_attempt(1);
  task.set_model_path(model_path_);
  return task;
}

absl::StatusOr<v1::BlockWeights> RemoteShardWorker::Describe(
    const LayerWeights& weights, std::vector<v1::TensorChunk>& tensors) {
  if (weights.index < 0) return absl::InternalError("block weights without their block index");
  v1::BlockWeights block;
  block.set_layer(weights.index);
  const LayerWeights original = original_.Layer(weights.index);
  for (auto& [name, tensor] : worker::ChangedTensors(weights, original)) {
    const std::string blob = absl::StrCat("w", next_blob_++);
    v1::WeightOverride* override = block.add_overrides();
    override->set_name(name);
    override->set_blob_id(blob);
    for (auto& chunk : worker::TensorToChunks(blob, tensor)) tensors.push_back(std::move(chunk));
  }
  return block;
}

absl::StatusOr<TaskReply> RemoteShardWorker::Run(int64_t shard, const v1::Task& task,
                                                 const std::vector<v1::TensorChunk>& tensors) {
  if (workers_.empty()) return absl::UnavailableError("no worker is connected");
  ConnectedWorker& worker = *workers_[static_cast<size_t>(shard) % workers_.size()];
  return worker.Call(task, tensors);
}

absl::Status RemoteShardWorker::LoadShard(int64_t shard, const TokenBatch& batch) {
  v1::Task task = NewTask();
  auto* load = task.mutable_load_shard();
  load->set_shard(shard);
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    auto* sequence = load->add_sequences();
    for (int64_t i = batch.offsets[s]; i < batch.offsets[s + 1]; ++i) {
      sequence->add_ids(batch.tokens[static_cast<size_t>(i)]);
    }
  }
  return Run(shard, task, {}).status();
}

absl::StatusOr<GroupStatistics> RemoteShardWorker::CollectStatistics(int64_t shard,
                                                                     const LayerWeights& weights,
                                                                     InputGroup group,
                                                                     bool with_abs_sums) {
  std::optional<GroupStatistics> stats;
  QUENCH_RETURN_IF_ERROR(CollectStatisticsEach({shard}, weights, group, with_abs_sums,
                                               [&](int64_t, GroupStatistics result) {
                                                 stats = std::move(result);
                                                 return absl::OkStatus();
                                               }));
  return *std::move(stats);
}

absl::StatusOr<GroupStatistics> RemoteShardWorker::StatisticsFrom(TaskReply reply) {
  const auto& result = reply.result.collect_statistics();
  auto hessian = reply.tensors.find(result.hessian_blob_id());
  if (hessian == reply.tensors.end() || hessian->second.dtype() != DType::kF64 ||
      hessian->second.rank() != 2 || hessian->second.dim(0) != hessian->second.dim(1)) {
    return absl::DataLossError("a statistics result without its F64 [dim, dim] Hessian");
  }
  const Tensor& sums = hessian->second;
  GroupStatistics stats;
  stats.hessian = HessianAccumulator::FromSums(
      sums.dim(0), result.tokens(),
      std::vector<double>(sums.data<double>(), sums.data<double>() + sums.dim(0) * sums.dim(1)));
  stats.abs_sums.assign(result.abs_sums().begin(), result.abs_sums().end());
  stats.tokens = result.tokens();
  return stats;
}

absl::Status RemoteShardWorker::AdvanceBlock(int64_t shard, const LayerWeights& weights) {
  return AdvanceBlockEach({shard}, weights);
}

absl::StatusOr<std::vector<double>> RemoteShardWorker::CandidateLosses(
    int64_t shard, const LayerWeights& reference, const std::vector<LayerWeights>& candidates,
    InputGroup group) {
  std::vector<double> losses;
  QUENCH_RETURN_IF_ERROR(CandidateLossesEach({shard}, reference, candidates, group,
                                             [&](int64_t, std::vector<double> result) {
                                               losses = std::move(result);
                                               return absl::OkStatus();
                                             }));
  return losses;
}

absl::StatusOr<std::vector<double>> RemoteShardWorker::LossesFrom(const TaskReply& reply,
                                                                  size_t expected) {
  const auto& values = reply.result.candidate_losses().losses();
  if (static_cast<size_t>(values.size()) != expected) {
    return absl::DataLossError("a worker returned the wrong number of candidate losses");
  }
  return std::vector<double>(values.begin(), values.end());
}

absl::StatusOr<Tensor> RemoteShardWorker::GroupInput(int64_t shard, const LayerWeights& weights,
                                                     InputGroup group) {
  v1::Task task = NewTask();
  std::vector<v1::TensorChunk> tensors;
  auto* input = task.mutable_group_input();
  input->set_shard(shard);
  QUENCH_ASSIGN_OR_RETURN(*input->mutable_weights(), Describe(weights, tensors));
  input->set_group(worker::ToWire(group));
  QUENCH_ASSIGN_OR_RETURN(TaskReply reply, Run(shard, task, tensors));
  auto found = reply.tensors.find(reply.result.group_input().input_blob_id());
  if (found == reply.tensors.end())
    return absl::DataLossError("a group input result without its tensor");
  return std::move(found->second);
}

absl::Status RemoteShardWorker::RunEach(
    const std::vector<int64_t>& shards, const std::function<v1::Task(int64_t shard)>& make_task,
    const std::vector<v1::TensorChunk>& tensors,
    const std::function<absl::Status(int64_t shard, TaskReply)>& on_reply) {
  if (workers_.empty()) return absl::UnavailableError("no worker is connected");
  std::vector<v1::Task> tasks;
  std::map<size_t, std::vector<size_t>> by_worker;  // worker → indices into shards, in order
  for (size_t i = 0; i < shards.size(); ++i) {
    tasks.push_back(make_task(shards[i]));
    by_worker[static_cast<size_t>(shards[i]) % workers_.size()].push_back(i);
  }
  std::mutex mutex;
  absl::Status first_error;
  const auto run = [&](size_t worker, const std::vector<size_t>& indices) {
    for (size_t i : indices) {
      {
        std::lock_guard lock(mutex);
        if (!first_error.ok()) return;
      }
      absl::StatusOr<TaskReply> reply = workers_[worker]->Call(tasks[i], tensors);
      std::lock_guard lock(mutex);
      if (!first_error.ok()) return;
      first_error = reply.ok() ? on_reply(shards[i], *std::move(reply)) : reply.status();
    }
  };
  std::vector<std::thread> threads;
  for (auto it = std::next(by_worker.begin()); it != by_worker.end(); ++it) {
    threads.emplace_back(run, it->first, it->second);
  }
  if (!by_worker.empty()) run(by_worker.begin()->first, by_worker.begin()->second);
  for (std::thread& thread : threads) thread.join();
  return first_error;
}

absl::Status RemoteShardWorker::CollectStatisticsEach(const std::vector<int64_t>& shards,
                                                      const LayerWeights& weights, InputGroup group,
                                                      bool with_abs_sums,
                                                      const StatisticsCallback& on_result) {
  std::vector<v1::TensorChunk> tensors;
  QUENCH_ASSIGN_OR_RETURN(const v1::BlockWeights block, Describe(weights, tensors));
  return RunEach(
      shards,
      [&](int64_t shard) {
        v1::Task task = NewTask();
        auto* collect = task.mutable_collect_statistics();
        collect->set_shard(shard);
        *collect->mutable_weights() = block;
        collect->set_group(worker::ToWire(group));
        collect->set_with_abs_sums(with_abs_sums);
        return task;
      },
      tensors,
      [&](int64_t shard, TaskReply reply) -> absl::Status {
        QUENCH_ASSIGN_OR_RETURN(GroupStatistics stats, StatisticsFrom(std::move(reply)));
        return on_result(shard, std::move(stats));
      });
}

absl::Status RemoteShardWorker::AdvanceBlockEach(const std::vector<int64_t>& shards,
                                                 const LayerWeights& weights) {
  std::vector<v1::TensorChunk> tensors;
  QUENCH_ASSIGN_OR_RETURN(const v1::BlockWeights block, Describe(weights, tensors));
  return RunEach(
      shards,
      [&](int64_t shard) {
        v1::Task task = NewTask();
        task.mutable_advance_block()->set_shard(shard);
        *task.mutable_advance_block()->mutable_weights() = block;
        return task;
      },
      tensors, [](int64_t, TaskReply) { return absl::OkStatus(); });
}

absl::Status RemoteShardWorker::CandidateLossesEach(const std::vector<int64_t>& shards,
                                                    const LayerWeights& reference,
                                                    const std::vector<LayerWeights>& candidates,
                                                    InputGroup group,
                                                    const LossesCallback& on_result) {
  std::vector<v1::TensorChunk> tensors;
  QUENCH_ASSIGN_OR_RETURN(const v1::BlockWeights described_reference, Describe(reference, tensors));
  std::vector<v1::BlockWeights> described;
  for (const LayerWeights& candidate : candidates) {
    QUENCH_ASSIGN_OR_RETURN(described.emplace_back(), Describe(candidate, tensors));
  }
  return RunEach(
      shards,
      [&](int64_t shard) {
        v1::Task task = NewTask();
        auto* losses = task.mutable_candidate_losses();
        losses->set_shard(shard);
        *losses->mutable_reference() = described_reference;
        for (const auto& candidate : described) *losses->add_candidates() = candidate;
        losses->set_group(worker::ToWire(group));
        return task;
      },
      tensors,
      [&](int64_t shard, TaskReply reply) -> absl::Status {
        QUENCH_ASSIGN_OR_RETURN(std::vector<double> losses, LossesFrom(reply, candidates.size()));
        return on_result(shard, std::move(losses));
      });
}

std::vector<absl::StatusOr<GptqResult>> RemoteShardWorker::SolveGptqEach(
    const std::vector<GptqSolve>& solves, const GptqOptions& options) {
  std::vector<absl::StatusOr<GptqResult>> results(solves.size(),
                                                  absl::UnavailableError("no worker is connected"));
  if (workers_.empty()) return results;
  // Tasks are made here, before the threads start; the solves of a group share one Hessian,
  // whose chunks are made once.
  const std::string options_json = worker::GptqOptionsToWire(options);
  std::map<const std::vector<double>*, std::pair<std::string, std::vector<v1::TensorChunk>>>
      hessians;
  std::vector<v1::Task> tasks(solves.size());
  std::vector<std::vector<v1::TensorChunk>> tensors(solves.size());
  for (size_t i = 0; i < solves.size(); ++i) {
    const GptqSolve& solve = solves[i];
    auto& [hessian_blob, hessian_chunks] = hessians[solve.hessian];
    if (hessian_blob.empty()) {
      const int64_t cols = solve.weight->dim(1);
      Tensor hessian = Tensor::Zeros(DType::kF64, {cols, cols});
      std::copy(solve.hessian->begin(), solve.hessian->end(), hessian.mutable_data<double>());
      hessian_blob = absl::StrCat("h", next_blob_++);
      hessian_chunks = worker::TensorToChunks(hessian_blob, hessian);
    }
    const std::string weight_blob = absl::StrCat("w", next_blob_++);
    tensors[i] = worker::TensorToChunks(weight_blob, *solve.weight);
    tensors[i].insert(tensors[i].end(), hessian_chunks.begin(), hessian_chunks.end());
    tasks[i] = NewTask();
    auto* gptq = tasks[i].mutable_solve_gptq();
    gptq->set_linear_name(solve.name);
    gptq->set_weight_blob_id(weight_blob);
    gptq->set_hessian_blob_id(hessian_blob);
    gptq->set_grid_json(worker::GridToWire(solve.grid));
    gptq->set_options_json(options_json);
  }
  const auto solve_one = [&](size_t i) {
    const GptqSolve& solve = solves[i];
    const int64_t rows = solve.weight->dim(0), cols = solve.weight->dim(1);
    auto reply = workers_[i % workers_.size()]->Call(tasks[i], tensors[i]);
    if (!reply.ok()) {
      results[i] = reply.status();
      return;
    }
    const auto& result = reply->result.solve_gptq();
    worker::QuantizedTensors parts;
    const std::pair<const std::string*, Tensor*> wanted[] = {
        {&result.codes_blob_id(), &parts.codes},
        {&result.params_blob_id(), &parts.params},
        {&result.g_idx_blob_id(), &parts.g_idx}};
    for (const auto& [blob, tensor] : wanted) {
      auto found = reply->tensors.find(*blob);
      if (found == reply->tensors.end()) {
        results[i] = absl::DataLossError("a solve result without its tensors");
        return;
      }
      *tensor = std::move(found->second);
    }
    auto quantized = worker::QuantizedFromTensors(solve.grid, rows, cols, parts);
    if (!quantized.ok()) {
      results[i] = quantized.status();
      return;
    }
    GptqResult solved;
    solved.quantized = std::move(*quantized);
    solved.loss = result.loss();
    results[i] = std::move(solved);
  };
  std::vector<std::thread> threads;
  for (size_t i = 1; i < solves.size(); ++i) threads.emplace_back(solve_one, i);
  if (!solves.empty()) solve_one(0);
  for (std::thread& thread : threads) thread.join();
  return results;
}

}  // namespace quench::server
