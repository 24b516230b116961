// What quench-worker does with a task from the coordinator: it keeps, per job, the model (read
// by itself from the shared model path) and the shards it holds, runs the task on its backend
// through the same LocalShardWorker as `quench local`, and answers with the result and the
// tensors the result names.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/job/shard_worker.h"
#include "kernels/backend.h"
#include "quench/v1/worker.pb.h"
#include "worker/model_loader.h"
#include "worker/tensor_wire.h"
#include "worker/worker_device.h"

namespace quench::worker {

struct TaskOutput {
  v1::TaskResult result;
  std::vector<v1::TensorChunk> tensors;  // sent before `result`
};

class TaskExecutor {
 public:
  explicit TaskExecutor(WorkerDevice device = {});
  ~TaskExecutor();

  // A tensor chunk that arrived for a coming task.
  absl::Status AddTensor(const v1::TensorChunk& chunk) { return blobs_.Add(chunk); }
  // Runs the task; a failure is reported in the result's `error`, never thrown.
  TaskOutput Execute(const v1::Task& task);
  // Frees the job's model and shards.
  void Release(const std::string& job_id);
  size_t jobs_held() const { return jobs_.size(); }

 private:
  struct JobState;
  absl::StatusOr<JobState*> Job(const v1::Task& task);
  absl::StatusOr<LayerWeights> Weights(JobState& job, const v1::BlockWeights& block);
  absl::Status Run(const v1::Task& task, TaskOutput& output);
  absl::Status Solve(const v1::Task& task, TaskOutput& output);

  WorkerDevice device_;
  std::unique_ptr<kernels::Backend> backend_;
  BlobAssembler blobs_;
  std::map<std::string, std::unique_ptr<JobState>> jobs_;
};

// The wire's input group, and back.
absl::StatusOr<InputGroup> FromWire(v1::InputGroup group);
v1::InputGroup ToWire(InputGroup group);

}  // namespace quench::worker
