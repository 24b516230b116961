// quench.v1.WorkerService: workers connect, register, and take tasks over one stream each.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>

#include "quench/v1/worker.grpc.pb.h"
#include "server/auth.h"
#include "server/metrics.h"
#include "server/worker_registry.h"

namespace quench::server {

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  // A worker not heard from for `heartbeat_timeout_s` (0: never) is declared lost and its
  // stream cancelled; its tasks go to other workers.
  WorkerServiceImpl(WorkerRegistry& registry, ServerMetrics& metrics, const TokenAuth& auth,
                    double heartbeat_timeout_s);
  ~WorkerServiceImpl() override;

  grpc::Status Connect(grpc::ServerContext* context, WorkerStream* stream) override;
  void StopMonitor();

 private:
  void UpdateGauge();
  void MonitorHeartbeats();

  WorkerRegistry& registry_;
  ServerMetrics& metrics_;
  const TokenAuth& auth_;
  const double timeout_s_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread monitor_;
};

}  // namespace quench::server
