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

namespace quench::server {

struct CoordinatorOptions {
  std::string listen = "127.0.0.1:7070";       // gRPC; port 0 picks a free one
  std::string http_listen = "127.0.0.1:9090";  // /metrics, /healthz, /readyz; empty: none
  std::filesystem::path data_dir = "quench-data";
  std::vector<std::filesystem::path> model_roots;
  std::optional<std::string> token;  // bearer token every call must carry
  std::string tls_cert_file, tls_key_file;
  int runners = 1;
  int max_queued_jobs = 1000;
};

class Coordinator {
 public:
  static absl::StatusOr<std::unique_ptr<Coordinator>> Start(const CoordinatorOptions& options);
  ~Coordinator();  // Shutdown()

  // Stops taking calls, lets streams end, stops the runners (running jobs go back to QUEUED).
  void Shutdown();

  int grpc_port() const;
  int http_port() const;  // 0 without HTTP

 private:
  struct Parts;
  explicit Coordinator(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace quench::server
