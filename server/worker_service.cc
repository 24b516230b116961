#include "server/worker_service.h"

#include "absl/strings/str_cat.h"
#include "core/util/version.h"
#include "spdlog/spdlog.h"

namespace quench::server {

void WorkerServiceImpl::UpdateGauge() {
  metrics_.SetWorkersConnected("cpu", static_cast<int64_t>(registry_.size()));
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
  registry_.Add(worker);
  UpdateGauge();
  spdlog::info("worker {}: connected from {} ({} devices)", worker->name(), context->peer(),
               registration.devices_size());

  for (v1::WorkerMessage message; stream->Read(&message);) {
    switch (message.message_case()) {
      case v1::WorkerMessage::kTensor:
        worker->OnTensor(message.tensor());
        break;
      case v1::WorkerMessage::kResult:
        worker->OnResult(message.result());
        break;
      default:
        break;  // heartbeats: the stream being alive is what counts for now
    }
  }
  worker->OnLost("its stream ended");
  registry_.Remove(worker.get());
  UpdateGauge();
  spdlog::info("worker {}: disconnected", worker->name());
  return grpc::Status::OK;
}

}  // namespace quench::server
