// quench-worker: runs quantization work for a quenchd coordinator.
#include <atomic>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "core/util/atomic_file.h"
#include "core/util/termination_signal.h"
#include "core/util/token_file.h"
#include "spdlog/spdlog.h"
#include "worker/worker_connection.h"

int main(int argc, char** argv) {
  quench::BlockTerminationSignals();

  CLI::App app{
      "quench-worker: holds calibration shards and runs quantization tasks for a quenchd "
      "coordinator. It reads model weights itself from the model path the coordinator names, "
      "so both must see the same files (one machine, or a shared volume).\n"
      "Example: quench-worker --coordinator quenchd:7070 --token-file /etc/quench/token"};
  quench::worker::WorkerOptions options;
  std::string token_file, tls_ca;
  app.add_option("--coordinator", options.coordinator, "quenchd's gRPC HOST:PORT")
      ->capture_default_str();
  std::string device = "cpu";
  app.add_option("--device", device,
                 "Compute device: cpu, cuda:N (a CUDA build) or hip:N (a -DQUENCH_GPU=hip "
                 "build): shard forwards, Hessians and GPTQ updates on GPU N, activations held "
                 "in host memory for now. One worker per GPU.")
      ->capture_default_str();
  app.add_option("--name", options.name, "Name in the coordinator's logs (default: host-pid)");
  app.add_option("--token-file", token_file, "Bearer token the coordinator requires");
  app.add_option("--tls-ca", tls_ca, "PEM root certificate: connect over TLS");
  app.add_option("--heartbeat", options.heartbeat_s, "Seconds between heartbeats")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  auto parsed_device = quench::worker::ParseWorkerDevice(device);
  if (!parsed_device.ok()) {
    std::cerr << "quench-worker: " << parsed_device.status().message() << "\n";
    return 2;
  }
  options.device = *parsed_device;
  if (!token_file.empty()) {
    auto token = quench::ReadTokenFile(token_file);
    if (!token.ok()) {
      std::cerr << "quench-worker: " << token.status().message() << "\n";
      return 2;
    }
    options.token = *token;
  }
  if (!tls_ca.empty()) {
    auto pem = quench::ReadFileToString(tls_ca);
    if (!pem.ok()) {
      std::cerr << "quench-worker: --tls-ca " << pem.status().message() << "\n";
      return 2;
    }
    options.tls_ca_pem = *pem;
  }

  std::atomic<bool> stop{false};
  std::thread signal_waiter([&] {
    const int received = quench::WaitForTerminationSignal();
    spdlog::info("quench-worker: signal {}: finishing the current task, then leaving", received);
    stop = true;
  });
  signal_waiter.detach();
  spdlog::info("quench-worker: connecting to {}", options.coordinator);
  const absl::Status status = quench::worker::RunWorker(options, stop);
  if (!status.ok()) {
    std::cerr << "quench-worker: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
