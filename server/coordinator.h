// quenchd as an object: the job store, artifact store, scheduler, the gRPC services (JobService,
// health, reflection) and the HTTP endpoints, started and stopped together. The daemon's main
// and in-process users (tests, `quench local`) run the same thing.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class Channel;
}

namespace quench::server {

struct CoordinatorOptions {
  // gRPC; port 0 picks a free one. Empty: no port, calls only through InProcessChannel().
  std::string listen = "127.0.0.1:7070";
  std::string http_listen = "127.0.0.1:9090";  // /metrics, /healthz, /readyz; empty: none
  std::filesystem::path data_dir = "quench-data";
  std::vector<std::filesystem::path> model_roots;
  std::optional<std::string> token;  // bearer token every call must carry
  std::string tls_cert_file, tls_key_file;
  int runners = 1;
  int max_queued_jobs = 1000;
  // A worker silent this long is lost (workers send a heartbeat every 2 s); 0: never.
  double worker_timeout_s = 6.0;
  // A worker task is tried this many times (a lost worker's on another) before its job fails.
  int max_task_attempts = 3;
};

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  ~Coordinator();  // Shutdown()

  // Stops taking calls, lets streams end, stops the runners (running jobs go back to QUEUED).
  void Shutdown();

  int grpc_port() const;  // 0 without a listening port
  int http_port() const;  // 0 without HTTP

  // A channel to this coordinator's services within the process (JobService, WorkerService):
  // what `quench local` talks through, no socket involved.
  std::shared_ptr<grpc::Channel> InProcessChannel() const;
  // Workers registered now.
  size_t workers_connected() const;
  // Where the store keeps a finished job's artifact.
  absl::StatusOr<std::filesystem::path> ArtifactPath(const std::string& job_id,
                                                     const std::string& name) const;

 private:
  struct Parts;
  explicit Coordinator(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace quench::server
