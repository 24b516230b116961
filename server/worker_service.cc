#include "server/worker_service.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "core/util/version.h"
#include "spdlog/spdlog.h"

namespace quench::server {

WorkerServiceImpl::WorkerServiceImpl(WorkerRegistry& registry, ServerMetrics& metrics,
                                     const TokenAuth& auth, double heartbeat_timeout_s)
    : registry_(registry), metrics_(metrics), auth_(auth), timeout_s_(heartbeat_timeout_s) {
  if (timeout_s_ > 0) monitor_ = std::thread([this] { MonitorHeartbeats(); });
}

WorkerServiceImpl::~WorkerServiceImpl() { StopMonitor(); }

void WorkerServiceImpl::StopMonitor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

void WorkerServiceImpl::MonitorHeartbeats() {
  std::unique_lock lock(mutex_);
  // A quarter of the timeout between checks: a silent worker is found within 1.25 timeouts.
  const auto period = std::chrono::duration<double>(timeout_s_ / 4);
  while (!wake_.wait_for(lock, period, [&] { return stopping_; })) {
    lock.unlock();
    for (const std::string& name : registry_.ExpireSilent(timeout_s_)) {
      spdlog::warn("worker {}: lost, no heartbeat for {:.1f} s (--worker-timeout)", name,
                   timeout_s_);
    }
    lock.lock();
  }
}

void WorkerServiceImpl::UpdateGauge() {
  // By the kind of each worker's first device; every kind keeps a series, 0 when none is here.
  std::map<std::string, int64_t> by_backend = {{"cpu", 0}, {"cuda", 0}, {"hip", 0}};
  for (const auto& worker : registry_.Snapshot()) {
    const auto& devices = worker->registration().devices();
    const v1::DeviceKind kind = devices.empty() ? v1::DEVICE_KIND_CPU : devices[0].kind();
    ++by_backend[kind == v1::DEVICE_KIND_CUDA  ? "cuda"
                 : kind == v1::DEVICE_KIND_HIP ? "hip"
                                               : "cpu"];
  }
  for (const auto& [backend, count] : by_backend) metrics_.SetWorkersConnected(backend, count);
}

grpc::Status WorkerServiceImpl::Connect(grpc::ServerContext* context, WorkerStream* stream) {
  if (grpc::Status auth = auth_.Check(*context); !auth.ok()) return auth;
  v1::WorkerMessage first;
  if (!stream->Read(&first)) return grpc::Status::OK;
  if (!first.has_register_()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "a worker's first message must be RegisterWorker");
  }
  if (first.register_().version() != kQuenchVersion) {
    return grpc::Status(
        grpc::StatusCode::FAILED_PRECONDITION,
        absl::StrCat("worker version '", first.register_().version(), "' does not match quenchd's ",
                     kQuenchVersion, "; run the same release on both"));
  }
  v1::RegisterWorker registration = first.register_();
  if (registration.worker_name().empty()) registration.set_worker_name(context->peer());
  auto worker = std::make_shared<ConnectedWorker>(
      registration, stream,
      [this](const std::string& kind, double seconds) { metrics_.TaskDone(kind, seconds); });
  worker->Attach(context);
  registry_.Add(worker);
  UpdateGauge();
  std::string devices;
  for (const v1::Device& device : registration.devices()) {
    absl::StrAppend(&devices, devices.empty() ? "" : ", ", device.name(), ", ",
                    device.memory_bytes() >> 30, " GiB");
  }
  spdlog::info("worker {}: connected from {} ({})", worker->name(), context->peer(), devices);

  for (v1::WorkerMessage message; stream->Read(&message);) {
    worker->Touch();
    switch (message.message_case()) {
      case v1::WorkerMessage::kTensor:
        worker->OnTensor(message.tensor());
        break;
      case v1::WorkerMessage::kResult:
        worker->OnResult(message.result());
        break;
      default:
        break;  // heartbeats: Touch() above
    }
  }
  worker->Detach();
  worker->OnLost("its stream ended");
  registry_.Remove(worker.get());
  UpdateGauge();
  spdlog::info("worker {}: disconnected", worker->name());
  return grpc::Status::OK;
}

}  // namespace quench::server
