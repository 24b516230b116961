// quench-worker: runs quantization work for a quenchd coordinator.
#include <signal.h>

#include <atomic>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "spdlog/spdlog.h"
#include "worker/worker_connection.h"

namespace {

std::string ReadFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "quench-worker: " << flag << " " << path << ": cannot open\n";
    std::exit(2);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

int main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  CLI::App app{
      "quench-worker: holds calibration shards and runs quantization tasks for a quenchd "
      "coordinator. It reads model weights itself from the model path the coordinator names, "
      "so both must see the same files (one machine, or a shared volume).\n"
      "Example: quench-worker --coordinator quenchd:7070 --token-file /etc/quench/token"};
  quench::worker::WorkerOptions options;
  std::string token_file, tls_ca;
  app.add_option("--coordinator", options.coordinator, "quenchd's gRPC HOST:PORT")
      ->capture_default_str();
  app.add_option("--device", options.device, "Compute device: cpu (cuda:N and hip:N to come)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu"}));
  app.add_option("--name", options.name, "Name in the coordinator's logs (default: host-pid)");
  app.add_option("--token-file", token_file, "Bearer token the coordinator requires");
  app.add_option("--tls-ca", tls_ca, "PEM root certificate: connect over TLS");
  app.add_option("--heartbeat", options.heartbeat_s, "Seconds between heartbeats")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (!token_file.empty()) {
    options.token = std::string(absl::StripAsciiWhitespace(ReadFile(token_file, "--token-file")));
  }
  if (!tls_ca.empty()) options.tls_ca_pem = ReadFile(tls_ca, "--tls-ca");

  std::atomic<bool> stop{false};
  std::thread signal_waiter([&] {
    int received = 0;
    sigwait(&signals, &received);
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
