#include "server/coordinator.h"

#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/artifact_store.h"
#include "server/auth.h"
#include "server/http_server.h"
#include "server/job_events.h"
#include "server/job_scheduler.h"
#include "server/job_service.h"
#include "server/job_store.h"
#include "server/metrics.h"
#include "server/model_roots.h"
#include "server/report_page.h"
#include "server/worker_registry.h"
#include "server/worker_service.h"
#include "spdlog/spdlog.h"

namespace quench::server {
namespace {

// Hessians and activations travel in 1 MiB chunks; headroom for the message around one.
constexpr int kMaxMessageBytes = 64 << 20;

}  // namespace

struct Coordinator::Parts {
  std::unique_ptr<JobStore> store;
  std::optional<ArtifactStore> artifacts;
  std::optional<ModelRoots> roots;
  JobEvents events;
  std::unique_ptr<ServerMetrics> metrics;
  std::unique_ptr<JobScheduler> scheduler;
  std::unique_ptr<TokenAuth> auth;
  std::unique_ptr<JobServiceImpl> job_service;
  WorkerRegistry workers;
  std::unique_ptr<WorkerServiceImpl> worker_service;
  std::unique_ptr<grpc::Server> grpc_server;
  std::unique_ptr<HttpServer> http;
  int grpc_port = 0;
  bool shut_down = false;

  HttpResponse ServeHttp(const HttpRequest& request) {
    constexpr char kText[] = "text/plain; charset=utf-8";
    const std::string& path = request.path;
    if (path == "/metrics")
      return {200, "text/plain; version=0.0.4; charset=utf-8", metrics->Render()};
    if (path == "/healthz") return {200, kText, "ok\n"};
    if (path == "/readyz") {
      // Ready when the store answers: the one dependency every call needs.
      if (store->CountByState().ok()) return {200, kText, "ready\n"};
      return {503, kText, "the job store does not answer\n"};
    }
    if (const std::optional<std::string> job = ReportPageJob(path)) {
      return ServeReportPage(request, *job, *store, *artifacts, *auth);
    }
    return {404, kText, "not found: try /metrics, /healthz, /readyz, /jobs/<id>/report\n"};
  }
};

Coordinator::Coordinator(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
Coordinator::~Coordinator() { Shutdown(); }

int Coordinator::grpc_port() const { return parts_->grpc_port; }
int Coordinator::http_port() const { return parts_->http ? parts_->http->port() : 0; }

std::shared_ptr<grpc::Channel> Coordinator::InProcessChannel() const {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxMessageBytes);
  return parts_->grpc_server->InProcessChannel(arguments);
}

size_t Coordinator::workers_connected() const { return parts_->workers.Snapshot().size(); }

absl::StatusOr<std::filesystem::path> Coordinator::ArtifactPath(const std::string& job_id,
                                                                const std::string& name) const {
  return parts_->artifacts->PathOf(job_id, name);
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Start(const CoordinatorOptions& options) {
  auto parts = std::make_unique<Parts>();
  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("--data-dir ", options.data_dir.string(), ": ", error.message()));
  }
  QUENCH_ASSIGN_OR_RETURN(parts->store, JobStore::Open(options.data_dir / "jobs.db"));
  QUENCH_ASSIGN_OR_RETURN(parts->artifacts, ArtifactStore::Open(options.data_dir / "artifacts"));
  QUENCH_ASSIGN_OR_RETURN(parts->roots, ModelRoots::Create(options.model_roots));
  JobStore* store = parts->store.get();
  parts->metrics = std::make_unique<ServerMetrics>([store] {
    auto counts = store->CountByState();
    return counts.ok() ? *counts : std::vector<std::pair<v1::JobState, int64_t>>{};
  });
  parts->metrics->SetWorkersConnected("cpu", 0);
  SchedulerOptions scheduler_options;
  scheduler_options.work_dir = options.data_dir / "work";
  scheduler_options.checkpoint_dir = options.data_dir / "checkpoints";
  scheduler_options.runners = options.runners;
  scheduler_options.max_queued_jobs = options.max_queued_jobs;
  scheduler_options.max_task_attempts = options.max_task_attempts;
  scheduler_options.workers = &parts->workers;
  parts->scheduler =
      std::make_unique<JobScheduler>(*parts->store, *parts->artifacts, *parts->roots, parts->events,
                                     *parts->metrics, scheduler_options);
  parts->auth = std::make_unique<TokenAuth>(options.token);
  parts->job_service =
      std::make_unique<JobServiceImpl>(*parts->scheduler, *parts->store, *parts->artifacts,
                                       parts->events, *parts->metrics, *parts->auth);
  parts->worker_service = std::make_unique<WorkerServiceImpl>(
      parts->workers, *parts->metrics, *parts->auth, options.worker_timeout_s);
  QUENCH_ASSIGN_OR_RETURN(auto credentials,
                          MakeServerCredentials(options.tls_cert_file, options.tls_key_file));

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  if (!options.listen.empty()) {
    builder.AddListeningPort(options.listen, credentials, &parts->grpc_port);
  }
  builder.RegisterService(parts->job_service.get());
  builder.RegisterService(parts->worker_service.get());
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  parts->grpc_server = builder.BuildAndStart();
  if (parts->grpc_server == nullptr || (!options.listen.empty() && parts->grpc_port == 0)) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.listen, " (--listen): in use or not local?"));
  }
  Parts* raw = parts.get();
  if (!options.http_listen.empty()) {
    QUENCH_ASSIGN_OR_RETURN(
        parts->http, HttpServer::Start(options.http_listen, [raw](const HttpRequest& request) {
          return raw->ServeHttp(request);
        }));
  }
  QUENCH_RETURN_IF_ERROR(parts->scheduler->Start());
  // The runners start after the listeners, so a job queued by an earlier run is not half-run
  // by a coordinator that then fails to start.
  spdlog::info("quenchd: gRPC on port {}, HTTP on port {}, data in {}", parts->grpc_port,
               parts->http ? parts->http->port() : 0, options.data_dir.string());
  return std::unique_ptr<Coordinator>(new Coordinator(std::move(parts)));
}

void Coordinator::Shutdown() {
  if (parts_ == nullptr || parts_->shut_down) return;
  parts_->shut_down = true;
  spdlog::info("quenchd: shutting down");
  parts_->scheduler->Stop();
  parts_->worker_service->StopMonitor();
  parts_->events.Close();  // watchers end now, and reconnect to the next coordinator
  // Workers leave their streams (and reconnect later), so the server need not wait them out.
  v1::CoordinatorMessage drain;
  drain.set_drain(true);
  for (const auto& worker : parts_->workers.Snapshot()) worker->Send(drain);
  parts_->grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  parts_->http.reset();
}

}  // namespace quench::server
