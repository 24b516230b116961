// `quench local` as a service of its own: an in-process coordinator (job store and artifact
// store in a private directory) and one in-process worker connected to it through an
// in-process channel, so a local job goes through the same submission, scheduler, worker tasks
// and artifact import as a job on quenchd — and gives the same bytes.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "client/service_client.h"
#include "quench/v1/jobs.grpc.pb.h"
#include "server/coordinator.h"
#include "worker/worker_device.h"

namespace quench::cli {

class LocalService {
 public:
  // Starts both, the stores under `data_dir` (created; removed again by the destructor), the
  // worker on `device`, and waits until the worker has registered.
  static absl::StatusOr<std::unique_ptr<LocalService>> Start(const std::filesystem::path& data_dir,
                                                             const worker::WorkerDevice& device);
  ~LocalService();

  v1::JobService::Stub& stub() { return *stub_; }
  const ServiceConnection& connection() const { return connection_; }
  // Moves a finished job's artifact out of the private store to `target` (parents created).
  absl::Status TakeArtifact(const std::string& job_id, const std::string& name,
                            const std::filesystem::path& target);

 private:
  LocalService() = default;

  std::filesystem::path data_dir_;
  std::unique_ptr<server::Coordinator> coordinator_;
  std::unique_ptr<v1::JobService::Stub> stub_;
  ServiceConnection connection_;
  std::atomic<bool> stop_worker_{false};
  std::thread worker_;
};

}  // namespace quench::cli
