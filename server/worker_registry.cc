#include "server/worker_registry.h"

#include <chrono>

#include "absl/strings/str_cat.h"

namespace quench::server {

bool ConnectedWorker::Write(const v1::CoordinatorMessage& message) {
  // The stream belongs to the Connect handler, which returns once the worker is lost: no write
  // may start after that, and OnLost waits for one in progress (gRPC would free its buffers
  // under it otherwise).
  std::lock_guard writing(write_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (lost_) return false;
  }
  return stream_->Write(message);
}

void ConnectedWorker::Send(const v1::CoordinatorMessage& message) { Write(message); }

absl::StatusOr<TaskReply> ConnectedWorker::Call(const v1::Task& task,
                                                const std::vector<v1::TensorChunk>& tensors) {
  std::lock_guard call(call_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (lost_) return absl::UnavailableError(absl::StrCat("worker ", name(), " is gone: ", *lost_));
    waiting_task_id_ = task.task_id();
    waiting_attempt_ = task.attempt();
    result_.reset();
    inbound_.Clear();
    inbound_error_ = absl::OkStatus();
  }
  const auto start = std::chrono::steady_clock::now();
  bool sent = true;
  for (const v1::TensorChunk& chunk : tensors) {
    v1::CoordinatorMessage message;
    *message.mutable_tensor() = chunk;
    sent = sent && Write(message);
  }
  v1::CoordinatorMessage message;
  *message.mutable_task() = task;
  sent = sent && Write(message);
  if (!sent) OnLost("the stream to it broke");

  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return result_.has_value() || lost_.has_value(); });
  waiting_task_id_.clear();
  if (!result_) {
    return absl::UnavailableError(
        absl::StrCat("worker ", name(), " was lost during task ", task.task_id(), ": ", *lost_));
  }
  if (!inbound_error_.ok()) return inbound_error_;
  if (!result_->error().empty()) {
    return absl::InternalError(
        absl::StrCat("worker ", name(), " failed task ", task.task_id(), ": ", result_->error()));
  }
  TaskReply reply{std::move(*result_), inbound_.TakeAll()};
  result_.reset();
  if (task_done_) {
    const auto* kind = task.GetDescriptor()->FindFieldByNumber(task.kind_case());
    task_done_(kind ? kind->name() : "unknown",
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return reply;
}

void ConnectedWorker::OnTensor(const v1::TensorChunk& chunk) {
  std::lock_guard lock(mutex_);
  if (waiting_task_id_.empty()) return;  // for a task nobody waits for any more
  if (absl::Status added = inbound_.Add(chunk); !added.ok() && inbound_error_.ok()) {
    inbound_error_ = added;
  }
}

void ConnectedWorker::OnResult(const v1::TaskResult& result) {
  {
    std::lock_guard lock(mutex_);
    // Only the current attempt of the task being waited for counts.
    if (result.task_id() != waiting_task_id_ || result.attempt() != waiting_attempt_) return;
    result_ = result;
  }
  changed_.notify_all();
}

void ConnectedWorker::OnLost(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (!lost_) lost_ = reason;
  }
  changed_.notify_all();
  std::lock_guard wait_for_writes(write_mutex_);
}

bool ConnectedWorker::lost() {
  std::lock_guard lock(mutex_);
  return lost_.has_value();
}

void ConnectedWorker::Touch() {
  std::lock_guard lock(mutex_);
  last_heard_ = std::chrono::steady_clock::now();
}

double ConnectedWorker::SecondsSinceHeard() {
  std::lock_guard lock(mutex_);
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - last_heard_).count();
}

void ConnectedWorker::Attach(grpc::ServerContext* context) {
  std::lock_guard lock(mutex_);
  context_ = context;
}

void ConnectedWorker::Detach() {
  std::lock_guard lock(mutex_);
  context_ = nullptr;
}

void ConnectedWorker::Expire(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    if (context_ != nullptr) context_->TryCancel();
  }
  OnLost(reason);
}

v1::DeviceKind DeviceKindOf(const ConnectedWorker& worker) {
  const auto& devices = worker.registration().devices();
  return devices.empty() || devices[0].kind() == v1::DEVICE_KIND_UNSPECIFIED ? v1::DEVICE_KIND_CPU
                                                                             : devices[0].kind();
}

std::vector<std::shared_ptr<ConnectedWorker>> WorkersForJob(
    const std::vector<std::shared_ptr<ConnectedWorker>>& connected) {
  for (const v1::DeviceKind kind :
       {v1::DEVICE_KIND_CUDA, v1::DEVICE_KIND_HIP, v1::DEVICE_KIND_CPU}) {
    std::vector<std::shared_ptr<ConnectedWorker>> chosen;
    for (const auto& worker : connected) {
      if (DeviceKindOf(*worker) == kind) chosen.push_back(worker);
    }
    if (!chosen.empty()) return chosen;
  }
  return {};
}

void WorkerRegistry::Add(std::shared_ptr<ConnectedWorker> worker) {
  std::lock_guard lock(mutex_);
  workers_.push_back(std::move(worker));
}

void WorkerRegistry::Remove(const ConnectedWorker* worker) {
  std::lock_guard lock(mutex_);
  std::erase_if(workers_, [&](const auto& candidate) { return candidate.get() == worker; });
}

std::vector<std::shared_ptr<ConnectedWorker>> WorkerRegistry::Snapshot() {
  std::lock_guard lock(mutex_);
  return workers_;
}

std::vector<std::string> WorkerRegistry::ExpireSilent(double timeout_s) {
  std::vector<std::string> expired;
  for (const auto& worker : Snapshot()) {
    const double silent = worker->SecondsSinceHeard();
    if (silent < timeout_s || worker->lost()) continue;
    worker->Expire(absl::StrCat("no heartbeat for ", static_cast<int>(silent), " s"));
    expired.push_back(worker->name());
  }
  return expired;
}

size_t WorkerRegistry::size() {
  std::lock_guard lock(mutex_);
  return workers_.size();
}

}  // namespace quench::server
