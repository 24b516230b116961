#include "client/local_service.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "spdlog/spdlog.h"
#include "worker/worker_connection.h"

namespace quench::cli {
namespace {

namespace fs = std::filesystem;

// Registration is one message over an in-process channel; this only bounds a broken start.
constexpr auto kWorkerRegistrationTimeout = std::chrono::seconds(30);

}  // namespace

absl::StatusOr<std::unique_ptr<LocalService>> LocalService::Start(
    const fs::path& data_dir, const worker::WorkerDevice& device) {
  std::unique_ptr<LocalService> service(new LocalService());
  service->data_dir_ = data_dir;
  server::CoordinatorOptions options;
  options.listen.clear();  // no socket: only the in-process channel
  options.http_listen.clear();
  options.data_dir = data_dir;
  // The user's own machine: any path they name is theirs to read.
  options.model_roots = {"/"};
  QUENCH_ASSIGN_OR_RETURN(service->coordinator_, server::Coordinator::Start(options));

  worker::WorkerOptions worker_options;
  worker_options.name = "local";
  worker_options.device = device;
  worker_options.channel = service->coordinator_->InProcessChannel();
  LocalService* raw = service.get();
  service->worker_ = std::thread([raw, worker_options] {
    if (auto ran = worker::RunWorker(worker_options, raw->stop_worker_); !ran.ok()) {
      spdlog::error("the in-process worker stopped: {}", ran.ToString());
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + kWorkerRegistrationTimeout;
  while (service->coordinator_->workers_connected() == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          "the in-process worker did not register with the "
          "in-process coordinator within 30 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  service->stub_ = v1::JobService::NewStub(service->coordinator_->InProcessChannel());
  service->connection_.server = "the in-process coordinator";
  service->connection_.token_file.clear();
  return service;
}

LocalService::~LocalService() {
  // The coordinator first: its runner stops the job while the worker still answers.
  if (coordinator_ != nullptr) coordinator_->Shutdown();
  stop_worker_ = true;
  if (worker_.joinable()) worker_.join();
  coordinator_.reset();
  std::error_code ignored;
  fs::remove_all(data_dir_, ignored);
}

absl::Status LocalService::TakeArtifact(const std::string& job_id, const std::string& name,
                                        const fs::path& target) {
  QUENCH_ASSIGN_OR_RETURN(const fs::path stored, coordinator_->ArtifactPath(job_id, name));
  std::error_code error;
  fs::create_directories(target.parent_path(), error);
  if (!error) fs::rename(stored, target, error);
  if (error) {
    return absl::Status(
        absl::StatusCode::kResourceExhausted,
        absl::StrCat("cannot move ", name, " to ", target.string(), ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace quench::cli
