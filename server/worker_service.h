// quench.v1.WorkerService: workers connect, register, and take tasks over one stream each.
#pragma once

#include "quench/v1/worker.grpc.pb.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/worker_registry.h"

namespace quench::server {

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(WorkerRegistry& registry, ServerMetrics& metrics, const TokenAuth& auth)
      : registry_(registry), metrics_(metrics), auth_(auth) {}

  grpc::Status Connect(grpc::ServerContext* context, WorkerStream* stream) override;

 private:
  void UpdateGauge();

  WorkerRegistry& registry_;
  ServerMetrics& metrics_;
  const TokenAuth& auth_;
};

}  // namespace quench::server
