// The workers connected to this coordinator, each behind the stream it opened (WorkerService
// .Connect). A worker runs one task at a time: Call() sends a task with its tensors and waits
// for the result of that task and attempt; results of any other (stale) attempt are dropped.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/sync_stream.h"
#include "quench/v1/worker.pb.h"
#include "worker/tensor_wire.h"

namespace quench::server {

using WorkerStream = grpc::ServerReaderWriter<v1::CoordinatorMessage, v1::WorkerMessage>;

struct TaskReply {
  v1::TaskResult result;
  std::map<std::string, Tensor> tensors;  // by blob id
};

class ConnectedWorker {
 public:
  // `task_done` hears of every answered task: its kind ("collect_statistics", "solve_gptq",
  // ...) and the seconds from sending it to its result.
  using TaskDone = std::function<void(const std::string& kind, double seconds)>;
  ConnectedWorker(v1::RegisterWorker registration, WorkerStream* stream, TaskDone task_done = {})
      : registration_(std::move(registration)), stream_(stream), task_done_(std::move(task_done)) {}

  const std::string& name() const { return registration_.worker_name(); }
  const v1::RegisterWorker& registration() const { return registration_; }

  // Sends `tensors` then `task`, and waits for its result. UNAVAILABLE when the worker goes
  // away first; the task's own failure comes back as the error it reported.
  absl::StatusOr<TaskReply> Call(const v1::Task& task, const std::vector<v1::TensorChunk>& tensors);
  // A message that needs no answer (release a job, drain).
  void Send(const v1::CoordinatorMessage& message);

  // True once its stream broke or it missed its heartbeats: calls to it fail with UNAVAILABLE.
  bool lost();

  // Heartbeats: every message from the worker counts as one.
  void Touch();
  double SecondsSinceHeard();
  // Declares it lost (`reason`) and cancels its stream, so the Connect handler returns. Safe
  // whenever the handler is still attached (it detaches before returning).
  void Expire(const std::string& reason);
  void Attach(grpc::ServerContext* context);
  void Detach();

  // From the stream's reader.
  void OnTensor(const v1::TensorChunk& chunk);
  void OnResult(const v1::TaskResult& result);
  void OnLost(const std::string& reason);

 private:
  bool Write(const v1::CoordinatorMessage& message);

  const v1::RegisterWorker registration_;
  WorkerStream* stream_;
  TaskDone task_done_;
  std::mutex write_mutex_;
  std::mutex call_mutex_;  // one task at a time

  std::mutex mutex_;
  std::condition_variable changed_;
  std::string waiting_task_id_;
  int64_t waiting_attempt_ = 0;
  std::optional<v1::TaskResult> result_;
  worker::BlobAssembler inbound_;
  absl::Status inbound_error_;
  std::optional<std::string> lost_;
  std::chrono::steady_clock::time_point last_heard_ = std::chrono::steady_clock::now();
  grpc::ServerContext* context_ = nullptr;  // the Connect handler's, while it runs
};

// The kind of a worker's first device (CPU when it named none).
v1::DeviceKind DeviceKindOf(const ConnectedWorker& worker);

// The workers one job uses: all of one device kind — CUDA if any is connected, else HIP, else
// CPU — because another kind sums in another order and the job's bytes must not depend on
// which workers it met. Order kept.
std::vector<std::shared_ptr<ConnectedWorker>> WorkersForJob(
    const std::vector<std::shared_ptr<ConnectedWorker>>& connected);

class WorkerRegistry {
 public:
  void Add(std::shared_ptr<ConnectedWorker> worker);
  void Remove(const ConnectedWorker* worker);
  // The workers connected now, in the order they connected.
  std::vector<std::shared_ptr<ConnectedWorker>> Snapshot();
  size_t size();
  // Expires every worker not heard from for `timeout_s`; returns their names.
  std::vector<std::string> ExpireSilent(double timeout_s);

 private:
  std::mutex mutex_;
  std::vector<std::shared_ptr<ConnectedWorker>> workers_;
};

}  // namespace quench::server
