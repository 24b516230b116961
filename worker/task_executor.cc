#include "worker/task_executor.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "kernels/cpu/cpu_backend.h"
#include "worker/solve_wire.h"

namespace quench::worker {

struct TaskExecutor::JobState {
  std::string model_path;
  LoadedModel model;
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<ShardWorker> shards;
  // The current block's weights as read from the model, and the last versions of each tensor
  // the coordinator sent for it. A shard continues its half-run block only while the weights
  // are the same tensors (same storage) as before, as they are in `quench local`; reusing
  // these keeps it from running the block again from its start for every task.
  int64_t base_layer = -1;
  LayerWeights base;
  std::map<std::string, std::vector<Tensor>> recent;
};

namespace {

constexpr size_t kRecentVersions = 2;

}  // namespace

TaskExecutor::TaskExecutor(WorkerDevice device)
    : device_(std::move(device)), backend_(MakeForwardBackend(device_)) {}
TaskExecutor::~TaskExecutor() = default;

void TaskExecutor::Release(const std::string& job_id) { jobs_.erase(job_id); }

absl::StatusOr<InputGroup> FromWire(v1::InputGroup group) {
  switch (group) {
    case v1::INPUT_GROUP_QKV:
      return InputGroup::kQkv;
    case v1::INPUT_GROUP_ATTENTION_OUTPUT:
      return InputGroup::kO;
    case v1::INPUT_GROUP_GATE_UP:
      return InputGroup::kGateUp;
    case v1::INPUT_GROUP_DOWN:
      return InputGroup::kDown;
    default:
      return absl::InvalidArgumentError("task without an input group");
  }
}

v1::InputGroup ToWire(InputGroup group) {
  switch (group) {
    case InputGroup::kQkv:
      return v1::INPUT_GROUP_QKV;
    case InputGroup::kO:
      return v1::INPUT_GROUP_ATTENTION_OUTPUT;
    case InputGroup::kGateUp:
      return v1::INPUT_GROUP_GATE_UP;
    case InputGroup::kDown:
      return v1::INPUT_GROUP_DOWN;
  }
  return v1::INPUT_GROUP_UNSPECIFIED;
}

absl::StatusOr<TaskExecutor::JobState*> TaskExecutor::Job(const v1::Task& task) {
  auto found = jobs_.find(task.job_id());
  if (found != jobs_.end()) {
    if (found->second->model_path != task.model_path()) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", task.job_id(), " changed its model path"));
    }
    return found->second.get();
  }
  auto job = std::make_unique<JobState>();
  job->model_path = task.model_path();
  QUENCH_ASSIGN_OR_RETURN(job->model, LoadModel(task.model_path()));
  job->transformer = std::make_unique<Transformer>(job->model.spec, job->model.weights, *backend_);
  job->shards = MakeLocalShardWorker(*job->transformer, MakeHessianSums(device_));
  JobState* raw = job.get();
  jobs_[task.job_id()] = std::move(job);
  return raw;
}

absl::StatusOr<LayerWeights> TaskExecutor::Weights(JobState& job, const v1::BlockWeights& block) {
  if (block.layer() < 0 || block.layer() >= job.model.spec.num_layers) {
    return absl::InvalidArgumentError(absl::StrCat("no block ", block.layer()));
  }
  if (job.base_layer != block.layer()) {
    job.base = job.model.weights.Layer(block.layer());
    job.base_layer = block.layer();
    job.recent.clear();
  }
  LayerWeights weights = job.base;
  for (const v1::WeightOverride& override : block.overrides()) {
    QUENCH_ASSIGN_OR_RETURN(Tensor tensor, blobs_.Take(override.blob_id()));
    std::vector<Tensor>& versions = job.recent[override.name()];
    auto same = std::find_if(versions.begin(), versions.end(),
                             [&](const Tensor& seen) { return SameTensor(seen, tensor); });
    if (same != versions.end()) {
      tensor = *same;
    } else {
      versions.push_back(tensor);
      if (versions.size() > kRecentVersions) versions.erase(versions.begin());
    }
    QUENCH_RETURN_IF_ERROR(SetTensor(weights, override.name(), std::move(tensor)));
  }
  return weights;
}

absl::Status TaskExecutor::Solve(const v1::Task& task, TaskOutput& output) {
  const v1::SolveGptqTask& solve = task.solve_gptq();
  QUENCH_ASSIGN_OR_RETURN(const Tensor weight, blobs_.Take(solve.weight_blob_id()));
  QUENCH_ASSIGN_OR_RETURN(const Tensor hessian, blobs_.Take(solve.hessian_blob_id()));
  QUENCH_ASSIGN_OR_RETURN(const GridSpec grid, GridFromWire(solve.grid_json()));
  QUENCH_ASSIGN_OR_RETURN(const GptqOptions options, GptqOptionsFromWire(solve.options_json()));
  if (weight.dtype() != DType::kF32 || weight.rank() != 2 || hessian.dtype() != DType::kF64 ||
      hessian.shape() != Shape{weight.dim(1), weight.dim(1)}) {
    return absl::InvalidArgumentError(
        absl::StrCat(solve.linear_name(),
                     ": a solve needs an F32 [rows, cols] weight and F64 [cols, cols] Hessian"));
  }
  const std::vector<double> sums(hessian.data<double>(),
                                 hessian.data<double>() + hessian.dim(0) * hessian.dim(1));
  // On a GPU worker the lazy updates run on the device; the codes may then differ from a CPU
  // worker's at rounding boundaries, so a job's solves should all run on one kind of device.
  const std::unique_ptr<GptqUpdater> updater = MakeSolveUpdater(device_);
  QUENCH_ASSIGN_OR_RETURN(const GptqResult result,
                          QuantizeGptq(weight, sums, grid, options, nullptr, updater.get()));
  const QuantizedTensors tensors = QuantizedToTensors(result.quantized);
  auto* reply = output.result.mutable_solve_gptq();
  reply->set_loss(result.loss);
  const std::pair<const char*, const Tensor*> parts[] = {
      {"codes", &tensors.codes}, {"params", &tensors.params}, {"g_idx", &tensors.g_idx}};
  for (const auto& [part, tensor] : parts) {
    const std::string blob = absl::StrCat(task.task_id(), "/", part);
    for (auto& chunk : TensorToChunks(blob, *tensor)) output.tensors.push_back(std::move(chunk));
  }
  reply->set_codes_blob_id(absl::StrCat(task.task_id(), "/codes"));
  reply->set_params_blob_id(absl::StrCat(task.task_id(), "/params"));
  reply->set_g_idx_blob_id(absl::StrCat(task.task_id(), "/g_idx"));
  return absl::OkStatus();
}

absl::Status TaskExecutor::Run(const v1::Task& task, TaskOutput& output) {
  // A solve needs no model: its weight and Hessian come with it.
  if (task.kind_case() == v1::Task::kSolveGptq) return Solve(task, output);
  QUENCH_ASSIGN_OR_RETURN(JobState * job, Job(task));
  ShardWorker& shards = *job->shards;
  switch (task.kind_case()) {
    case v1::Task::kLoadShard: {
      TokenBatch batch;
      for (const v1::TokenSequence& sequence : task.load_shard().sequences()) {
        batch.Add(std::vector<TokenId>(sequence.ids().begin(), sequence.ids().end()));
      }
      return shards.LoadShard(task.load_shard().shard(), batch);
    }
    case v1::Task::kCollectStatistics: {
      const auto& collect = task.collect_statistics();
      QUENCH_ASSIGN_OR_RETURN(const LayerWeights weights, Weights(*job, collect.weights()));
      QUENCH_ASSIGN_OR_RETURN(const InputGroup group, FromWire(collect.group()));
      QUENCH_ASSIGN_OR_RETURN(
          GroupStatistics stats,
          shards.CollectStatistics(collect.shard(), weights, group, collect.with_abs_sums()));
      const int64_t dim = stats.hessian.dim();
      Tensor sums = Tensor::Zeros(DType::kF64, {dim, dim});
      std::copy(stats.hessian.sums().begin(), stats.hessian.sums().end(),
                sums.mutable_data<double>());
      const std::string blob = absl::StrCat(task.task_id(), "/hessian");
      output.tensors = TensorToChunks(blob, sums);
      auto* result = output.result.mutable_collect_statistics();
      result->set_hessian_blob_id(blob);
      result->set_tokens(stats.hessian.tokens());
      for (double sum : stats.abs_sums) result->add_abs_sums(sum);
      return absl::OkStatus();
    }
    case v1::Task::kAdvanceBlock: {
      QUENCH_ASSIGN_OR_RETURN(const LayerWeights weights,
                              Weights(*job, task.advance_block().weights()));
      return shards.AdvanceBlock(task.advance_block().shard(), weights);
    }
    case v1::Task::kCandidateLosses: {
      const auto& losses_task = task.candidate_losses();
      QUENCH_ASSIGN_OR_RETURN(const LayerWeights reference, Weights(*job, losses_task.reference()));
      std::vector<LayerWeights> candidates;
      for (const v1::BlockWeights& candidate : losses_task.candidates()) {
        QUENCH_ASSIGN_OR_RETURN(candidates.emplace_back(), Weights(*job, candidate));
      }
      QUENCH_ASSIGN_OR_RETURN(const InputGroup group, FromWire(losses_task.group()));
      QUENCH_ASSIGN_OR_RETURN(
          const std::vector<double> losses,
          shards.CandidateLosses(losses_task.shard(), reference, candidates, group));
      for (double loss : losses) output.result.mutable_candidate_losses()->add_losses(loss);
      return absl::OkStatus();
    }
    case v1::Task::kGroupInput: {
      const auto& input_task = task.group_input();
      QUENCH_ASSIGN_OR_RETURN(const LayerWeights weights, Weights(*job, input_task.weights()));
      QUENCH_ASSIGN_OR_RETURN(const InputGroup group, FromWire(input_task.group()));
      QUENCH_ASSIGN_OR_RETURN(const Tensor input,
                              shards.GroupInput(input_task.shard(), weights, group));
      const std::string blob = absl::StrCat(task.task_id(), "/input");
      output.tensors = TensorToChunks(blob, input);
      output.result.mutable_group_input()->set_input_blob_id(blob);
      return absl::OkStatus();
    }
    default:
      return absl::UnimplementedError(
          absl::StrCat("this worker does not run task kind ", task.kind_case()));
  }
}

TaskOutput TaskExecutor::Execute(const v1::Task& task) {
  TaskOutput output;
  output.result.set_task_id(task.task_id());
  output.result.set_attempt(task.attempt());
  const absl::Status status = Run(task, output);
  if (!status.ok()) {
    output = TaskOutput{};
    output.result.set_task_id(task.task_id());
    output.result.set_attempt(task.attempt());
    output.result.set_error(status.ToString());
  }
  blobs_.Clear();  // a task's tensors are used by it alone
  return output;
}

}  // namespace quench::worker
