// quenchd: the Quench coordinator daemon. Flags may also come from a config file (--config,
// TOML or INI: one `name = value` per flag).
#include <csignal>
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "core/util/termination_signal.h"
#include "core/util/token_file.h"
#include "nlohmann/json.hpp"
#include "server/coordinator.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  // Before any thread starts, so every thread inherits the mask and the signal reaches sigwait.
  quench::BlockTerminationSignals();
  // A file-size limit (or a quota) shows up as a failed write, which fails that one job with
  // its reason; the default action of SIGXFSZ would kill the daemon and every job with it.
  std::signal(SIGXFSZ, SIG_IGN);

  CLI::App app{
      "quenchd: the Quench coordinator. Accepts quantization jobs over gRPC "
      "(quench.v1.JobService), "
      "runs them, keeps their artifacts, and serves /metrics, /healthz and /readyz over HTTP.\n"
      "Example: quenchd --data-dir /var/lib/quench --model-root /models --token-file "
      "/etc/quench/token"};
  quench::server::CoordinatorOptions options;
  std::string data_dir = options.data_dir.string(), token_file, ready_file;
  std::vector<std::string> model_roots;
  app.set_config("--config", "", "Read flags from this TOML/INI file as well");
  app.add_option("--listen", options.listen, "gRPC address HOST:PORT (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--http-listen", options.http_listen,
                 "HTTP address for /metrics, /healthz, /readyz (empty: no HTTP)")
      ->capture_default_str();
  app.add_option("--data-dir", data_dir, "Job store (jobs.db) and artifacts live here")
      ->capture_default_str();
  app.add_option("--model-root", model_roots,
                 "A directory clients may name models and data under (repeatable); paths outside "
                 "every root are refused");
  app.add_option("--token-file", token_file,
                 "Require 'authorization: Bearer <token>' on every call; the token is this file's "
                 "content");
  app.add_option("--tls-cert", options.tls_cert_file, "TLS certificate chain (PEM)");
  app.add_option("--tls-key", options.tls_key_file, "TLS private key (PEM)");
  app.add_option("--runners", options.runners, "Jobs run at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--max-queued-jobs", options.max_queued_jobs,
                 "SubmitJob is refused (RESOURCE_EXHAUSTED) beyond this many queued jobs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--worker-timeout", options.worker_timeout_s,
                 "Seconds without a heartbeat before a worker is declared lost and its tasks and "
                 "shards go to other workers (workers beat every 2 s; 0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--task-attempts", options.max_task_attempts,
                 "Times a worker task is tried (a lost worker's on another) before its job fails")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--ready-file", ready_file,
                 "When serving, write {\"grpc_port\":P,\"http_port\":Q} here (for scripts that "
                 "start quenchd with port 0)");
  CLI11_PARSE(app, argc, argv);

  options.data_dir = data_dir;
  for (const auto& root : model_roots) options.model_roots.emplace_back(root);
  if (!token_file.empty()) {
    auto token = quench::ReadTokenFile(token_file);
    if (!token.ok()) {
      std::cerr << "quenchd: " << token.status().message() << "\n";
      return 2;
    }
    options.token = *token;
  }
  if (options.model_roots.empty()) {
    spdlog::warn("quenchd: no --model-root: every submitted job will be refused");
  }
  auto coordinator = quench::server::Coordinator::Start(options);
  if (!coordinator.ok()) {
    std::cerr << "quenchd: " << coordinator.status().message() << "\n";
    return 1;
  }
  if (!ready_file.empty()) {
    const nlohmann::json ready = {{"grpc_port", (*coordinator)->grpc_port()},
                                  {"http_port", (*coordinator)->http_port()},
                                  {"pid", static_cast<int64_t>(getpid())}};
    const std::string temporary = ready_file + ".tmp";
    std::ofstream(temporary) << ready.dump() << "\n";
    std::rename(temporary.c_str(), ready_file.c_str());
  }
  const int signal_number = quench::WaitForTerminationSignal();
  spdlog::info("quenchd: signal {} received", signal_number);
  (*coordinator)->Shutdown();
  return 0;
}
