#include "server/remote_shard_worker.h"

#include <chrono>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/solve_wire.h"
#include "worker/task_executor.h"
#include "worker/tensor_wire.h"

namespace quench::server {

RemoteShardWorker::RemoteShardWorker(std::vector<std::shared_ptr<ConnectedWorker>> workers,
                                     std::string job_id, std::string model_path,
                                     const ModelWeights& original, RemoteShardOptions options)
    : job_id_(std::move(job_id)),
      model_path_(std::move(model_path)),
      original_(original),
      options_(std::move(options)),
      workers_(workers),
      released_(std::move(workers)) {}

RemoteShardWorker::~RemoteShardWorker() {
  v1::CoordinatorMessage release;
  release.set_release_job_id(job_id_);
  for (const auto& worker : released_) worker->Send(release);  // a lost one ignores it
}

v1::Task RemoteShardWorker::NewTask() {
  v1::Task task;
  task.set_task_id(absl::StrCat(job_id_, "/", next_task_++));
  task.set_job_id(job_id_);
  task.set_attempt(1);
  task.set_model_path(model_path_);
  return task;
}

v1::Task RemoteShardWorker::LoadShardTask(int64_t shard, const TokenBatch& batch) {
  v1::Task task = NewTask();
  auto* load = task.mutable_load_shard();
  load->set_shard(shard);
  for (int64_t s = 0; s < batch.num_sequences(); ++s) {
    auto* sequence = load->add_sequences();
    for (int64_t i = batch.offsets[s]; i < batch.offsets[s + 1]; ++i) {
      sequence->add_ids(batch.tokens[static_cast<size_t>(i)]);
    }
  }
  return task;
}

std::string RemoteShardWorker::NewBlobId(const char* prefix) {
  return absl::StrCat(prefix, next_blob_++);
}

absl::StatusOr<v1::BlockWeights> RemoteShardWorker::Describe(
    const LayerWeights& weights, std::vector<v1::TensorChunk>& tensors) {
  if (weights.index < 0) return absl::InternalError("block weights without their block index");
  v1::BlockWeights block;
  block.set_layer(weights.index);
  const LayerWeights original = original_.Layer(weights.index);
  for (auto& [name, tensor] : worker::ChangedTensors(weights, original)) {
    const std::string blob = NewBlobId("w");
    v1::WeightOverride* override = block.add_overrides();
    override->set_name(name);
    override->set_blob_id(blob);
    for (auto& chunk : worker::TensorToChunks(blob, tensor)) tensors.push_back(std::move(chunk));
  }
  return block;
}

// ---- holders, attempts, rebuilds ----

absl::StatusOr<std::vector<std::shared_ptr<ConnectedWorker>>> RemoteShardWorker::LiveWorkers() {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.worker_wait_s);
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      std::erase_if(workers_, [](const auto& worker) { return worker->lost(); });
      if (workers_.empty() && options_.registry != nullptr) {
        // Workers that connected since the job started (a lost one coming back among them).
        for (auto& worker : options_.registry->Snapshot()) {
          if (worker->lost() || DeviceKindOf(*worker) != options_.device_kind) continue;
          workers_.push_back(worker);
          released_.push_back(worker);
        }
      }
      if (!workers_.empty()) return workers_;
    }
    if (options_.cancelled && options_.cancelled()) return absl::CancelledError("job cancelled");
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("every worker of the job was lost and none connected within ",
                       options_.worker_wait_s, " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

absl::StatusOr<std::shared_ptr<ConnectedWorker>> RemoteShardWorker::PickWorker(int64_t index) {
  QUENCH_ASSIGN_OR_RETURN(const auto workers, LiveWorkers());
  return workers[static_cast<size_t>(index) % workers.size()];
}

namespace {

// The memory a worker offers: its first device's (0: it did not say).
uint64_t Capacity(const ConnectedWorker& worker) {
  const auto& devices = worker.registration().devices();
  return devices.empty() ? 0 : devices[0].memory_bytes();
}

std::string GiB(uint64_t bytes) { return absl::StrFormat("%.2f GiB", bytes / 1073741824.0); }

}  // namespace

absl::StatusOr<std::shared_ptr<ConnectedWorker>> RemoteShardWorker::PlaceShard(int64_t shard,
                                                                               uint64_t bytes) {
  QUENCH_ASSIGN_OR_RETURN(const auto workers, LiveWorkers());
  std::lock_guard lock(mutex_);
  std::map<const ConnectedWorker*, uint64_t> held_bytes;
  std::map<const ConnectedWorker*, int> held_shards;
  for (const auto& [other, state] : shards_) {
    if (state->holder == nullptr) continue;
    held_bytes[state->holder.get()] += state->bytes;
    ++held_shards[state->holder.get()];
  }
  // The worker with the most memory free that fits the shard (one that did not say how much it
  // has counts as unlimited), then the one holding the fewest shards: round robin when equal.
  std::shared_ptr<ConnectedWorker> best;
  uint64_t best_free = 0, most_free = 0;
  for (const auto& worker : workers) {
    const uint64_t capacity = Capacity(*worker);
    const uint64_t held = held_bytes[worker.get()];
    const uint64_t free = capacity == 0 ? UINT64_MAX : capacity > held ? capacity - held : 0;
    most_free = std::max(most_free, free);
    if (free < bytes) continue;
    if (best == nullptr || free > best_free ||
        (free == best_free && held_shards[worker.get()] < held_shards[best.get()])) {
      best = worker;
      best_free = free;
    }
  }
  if (best == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("calibration shard ", shard, " needs about ", GiB(bytes),
                     " of activation memory, and the most any worker has free is ", GiB(most_free),
                     ": raise calibration.shards (smaller shards) or add workers"));
  }
  return best;
}

void RemoteShardWorker::Forget(const ConnectedWorker& worker) {
  std::lock_guard lock(mutex_);
  std::erase_if(workers_, [&](const auto& candidate) { return candidate.get() == &worker; });
  for (auto& [shard, state] : shards_) {
    if (state->holder.get() == &worker) state->holder.reset();
  }
}

absl::StatusOr<std::shared_ptr<ConnectedWorker>> RemoteShardWorker::HolderOf(int64_t shard) {
  Shard* state;
  {
    std::lock_guard lock(mutex_);
    auto found = shards_.find(shard);
    if (found == shards_.end()) {
      return absl::InternalError(absl::StrCat("shard ", shard, " was never loaded"));
    }
    state = found->second.get();
  }
  std::lock_guard rebuilding(state->rebuilding);
  {
    std::lock_guard lock(mutex_);
    if (state->holder && !state->holder->lost()) return state->holder;
  }
  // Placed where its activations fit, the first time and when its holder was lost.
  QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<ConnectedWorker> worker, PlaceShard(shard, state->bytes));
  if (state->loaded) {
    if (absl::Status rebuilt = Rebuild(shard, *state, *worker); !rebuilt.ok()) {
      if (worker->lost()) Forget(*worker);
      return rebuilt;
    }
  }
  std::lock_guard lock(mutex_);
  state->holder = worker;
  return worker;
}

absl::Status RemoteShardWorker::Rebuild(int64_t shard, Shard& state, ConnectedWorker& worker) {
  int64_t advanced;
  {
    std::lock_guard lock(mutex_);
    advanced = state.advanced;
  }
  if (advanced > 0 && !options_.lineage) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard ", shard, " was lost with its worker and this job keeps no lineage to rebuild it"));
  }
  spdlog::info("job {}: shard {} moves to worker {}, rebuilt through {} finished blocks", job_id_,
               shard, worker.name(), advanced);
  const v1::Task load = LoadShardTask(shard, state.batch);
  // A rebuild task that fails is a failed attempt of the task that needed the shard.
  const auto attempt_failed = [&](const absl::Status& status) {
    return absl::UnavailableError(absl::StrCat("rebuilding shard ", shard, " on worker ",
                                               worker.name(), ": ", status.message()));
  };
  if (auto loaded = worker.Call(load, {}); !loaded.ok()) return attempt_failed(loaded.status());
  for (int64_t layer = 0; layer < advanced; ++layer) {
    QUENCH_ASSIGN_OR_RETURN(const LayerWeights weights, options_.lineage(shard, layer));
    std::vector<v1::TensorChunk> tensors;
    QUENCH_ASSIGN_OR_RETURN(const v1::BlockWeights block, Describe(weights, tensors));
    v1::Task advance = NewTask();
    advance.mutable_advance_block()->set_shard(shard);
    *advance.mutable_advance_block()->mutable_weights() = block;
    if (auto moved = worker.Call(advance, tensors); !moved.ok()) {
      return attempt_failed(moved.status());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<TaskReply> RemoteShardWorker::CallShard(
    int64_t shard, v1::Task task, const std::vector<v1::TensorChunk>& tensors) {
  absl::Status last;
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1 && options_.cancelled && options_.cancelled()) {
      return absl::CancelledError("job cancelled");
    }
    task.set_attempt(attempt);
    absl::StatusOr<std::shared_ptr<ConnectedWorker>> holder = HolderOf(shard);
    if (!holder.ok()) {
      // No worker left, or no lineage to rebuild from: more attempts cannot help.
      if (!absl::IsUnavailable(holder.status())) return holder.status();
      last = holder.status();
      spdlog::warn("job {}: task {} (shard {}) attempt {} failed: {}", job_id_, task.task_id(),
                   shard, attempt, std::string(last.message()));
      continue;
    }
    absl::StatusOr<TaskReply> reply = (*holder)->Call(task, tensors);
    if (reply.ok()) return reply;
    last = reply.status();
    if (absl::IsUnavailable(last)) Forget(**holder);
    spdlog::warn("job {}: task {} (shard {}) attempt {} failed: {}", job_id_, task.task_id(), shard,
                 attempt, std::string(last.message()));
  }
  return absl::AbortedError(absl::StrCat("task ", task.task_id(), " (shard ", shard, ") failed ",
                                         options_.max_attempts,
                                         " times; the last error: ", last.message()));
}

// ---- the ShardWorker calls ----

absl::Status RemoteShardWorker::LoadShard(int64_t shard, const TokenBatch& batch) {
  Shard* state;
  {
    std::lock_guard lock(mutex_);
    auto& slot = shards_[shard];
    if (slot == nullptr) slot = std::make_unique<Shard>();
    state = slot.get();
  }
  state->batch = batch;
  state->bytes = static_cast<uint64_t>(batch.num_tokens()) * options_.activation_bytes_per_token;
  QUENCH_RETURN_IF_ERROR(CallShard(shard, LoadShardTask(shard, batch), {}).status());
  state->loaded = true;
  return absl::OkStatus();
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
  QUENCH_ASSIGN_OR_RETURN(TaskReply reply, CallShard(shard, task, tensors));
  auto found = reply.tensors.find(reply.result.group_input().input_blob_id());
  if (found == reply.tensors.end())
    return absl::DataLossError("a group input result without its tensor");
  return std::move(found->second);
}

absl::Status RemoteShardWorker::RunEach(
    const std::vector<int64_t>& shards, const std::function<v1::Task(int64_t shard)>& make_task,
    const std::vector<v1::TensorChunk>& tensors,
    const std::function<absl::Status(int64_t shard, TaskReply)>& on_reply) {
  std::vector<v1::Task> tasks;
  std::map<const ConnectedWorker*, std::vector<size_t>> by_holder;  // indices into shards
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < shards.size(); ++i) {
      tasks.push_back(make_task(shards[i]));
      auto found = shards_.find(shards[i]);
      by_holder[found != shards_.end() ? found->second->holder.get() : nullptr].push_back(i);
    }
  }
  std::mutex mutex;
  absl::Status first_error;
  const auto run = [&](const std::vector<size_t>& indices) {
    for (size_t i : indices) {
      {
        std::lock_guard lock(mutex);
        if (!first_error.ok()) return;
      }
      absl::StatusOr<TaskReply> reply = CallShard(shards[i], tasks[i], tensors);
      std::lock_guard lock(mutex);
      if (!first_error.ok()) return;
      first_error = reply.ok() ? on_reply(shards[i], *std::move(reply)) : reply.status();
    }
  };
  std::vector<std::thread> threads;
  for (auto it = std::next(by_holder.begin()); it != by_holder.end(); ++it) {
    threads.emplace_back(run, std::cref(it->second));
  }
  if (!by_holder.empty()) run(by_holder.begin()->second);
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
      tensors,
      [&](int64_t shard, TaskReply) {
        std::lock_guard lock(mutex_);
        ++shards_.at(shard)->advanced;  // a rebuild now replays this block too
        return absl::OkStatus();
      });
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
                                                  absl::UnavailableError("not solved"));
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
      hessian_blob = NewBlobId("h");
      hessian_chunks = worker::TensorToChunks(hessian_blob, hessian);
    }
    const std::string weight_blob = NewBlobId("w");
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
  // A solve holds no shard: any live worker can take an attempt.
  const auto call = [&](size_t i) -> absl::StatusOr<TaskReply> {
    absl::Status last;
    for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
      if (attempt > 1 && options_.cancelled && options_.cancelled()) {
        return absl::CancelledError("job cancelled");
      }
      tasks[i].set_attempt(attempt);
      // Each attempt on the next worker: a solve that failed on one is tried on another.
      QUENCH_ASSIGN_OR_RETURN(std::shared_ptr<ConnectedWorker> worker,
                              PickWorker(static_cast<int64_t>(i) + attempt - 1));
      absl::StatusOr<TaskReply> reply = worker->Call(tasks[i], tensors[i]);
      if (reply.ok()) return reply;
      last = reply.status();
      if (absl::IsUnavailable(last)) Forget(*worker);
      spdlog::warn("job {}: task {} ({}) attempt {} failed: {}", job_id_, tasks[i].task_id(),
                   solves[i].name, attempt, std::string(last.message()));
    }
    return absl::AbortedError(absl::StrCat("task ", tasks[i].task_id(), " (GPTQ ", solves[i].name,
                                           ") failed ", options_.max_attempts,
                                           " times; the last error: ", last.message()));
  };
  const auto solve_one = [&](size_t i) {
    const GptqSolve& solve = solves[i];
    const int64_t rows = solve.weight->dim(0), cols = solve.weight->dim(1);
    auto reply = call(i);
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
