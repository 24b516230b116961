#include "worker/worker_connection.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "core/util/version.h"
#include "grpcpp/grpcpp.h"
#include "quench/v1/worker.grpc.pb.h"
#include "spdlog/spdlog.h"
#include "worker/task_executor.h"

namespace quench::worker {
namespace {

using Stream = grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>;

std::string DefaultName() {
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  return absl::StrCat(host, "-", ::getpid());
}

// Sleeps up to `seconds`, waking early when `stop` is set.
void SleepUnlessStopped(double seconds, const std::atomic<bool>& stop) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!stop && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// One connection: registers, then serves tasks until the stream ends. True when it got as far
// as serving (so the next attempt starts with a short backoff again).
absl::StatusOr<bool> ServeOnce(const WorkerOptions& options, v1::WorkerService::Stub& stub,
                               TaskExecutor& executor, const std::atomic<bool>& stop) {
  grpc::ClientContext context;
  if (!options.token.empty()) context.AddMetadata("authorization", "Bearer " + options.token);
  std::unique_ptr<Stream> stream = stub.Connect(&context);
  std::mutex write_mutex;
  const auto write = [&](const v1::WorkerMessage& message) {
    std::lock_guard lock(write_mutex);
    return stream->Write(message);
  };

  v1::WorkerMessage hello;
  auto* registration = hello.mutable_register_();
  registration->set_worker_name(options.name.empty() ? DefaultName() : options.name);
  registration->set_version(kQuenchVersion);
  registration->set_capacity(1);
  auto* device = registration->add_devices();
  device->set_kind(options.device.kind);
  device->set_name(absl::StrCat(options.device.name, " (", options.device.description, ")"));
  device->set_memory_bytes(options.device.memory_bytes);
  if (!write(hello)) {
    const grpc::Status status = stream->Finish();
    return absl::UnavailableError(status.error_message());
  }

  // Heartbeats on their own thread, so a long task does not look like a dead worker.
  std::mutex heartbeat_mutex;
  std::condition_variable heartbeat_wake;
  bool done = false;
  std::thread heartbeat([&] {
    std::unique_lock lock(heartbeat_mutex);
    while (!heartbeat_wake.wait_for(lock, std::chrono::duration<double>(options.heartbeat_s),
                                    [&] { return done; })) {
      v1::WorkerMessage beat;
      beat.mutable_heartbeat()->set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
      write(beat);
    }
  });
  // Stop requested: cancel the stream so the blocked Read returns.
  std::thread stopper([&] {
    while (true) {
      {
        std::lock_guard lock(heartbeat_mutex);
        if (done) return;
      }
      if (stop) {
        context.TryCancel();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });

  bool served = false;
  for (v1::CoordinatorMessage message; stream->Read(&message);) {
    served = true;
    switch (message.message_case()) {
      case v1::CoordinatorMessage::kTensor:
        if (auto added = executor.AddTensor(message.tensor()); !added.ok()) {
          spdlog::warn("worker: {}", added.ToString());
        }
        break;
      case v1::CoordinatorMessage::kTask: {
        TaskOutput output = executor.Execute(message.task());
        if (!output.result.error().empty()) {
          spdlog::warn("task {}: {}", message.task().task_id(), output.result.error());
        }
        for (const v1::TensorChunk& chunk : output.tensors) {
          v1::WorkerMessage reply;
          *reply.mutable_tensor() = chunk;
          write(reply);
        }
        v1::WorkerMessage reply;
        *reply.mutable_result() = std::move(output.result);
        write(reply);
        break;
      }
      case v1::CoordinatorMessage::kReleaseJobId:
        executor.Release(message.release_job_id());
        spdlog::info("job {}: released", message.release_job_id());
        break;
      case v1::CoordinatorMessage::kDrain:
        context.TryCancel();
        break;
      default:
        break;
    }
  }
  {
    std::lock_guard lock(heartbeat_mutex);
    done = true;
  }
  heartbeat_wake.notify_all();
  heartbeat.join();
  stopper.join();
  const grpc::Status status = stream->Finish();
  if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
      status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
      status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
    return absl::Status(
        static_cast<absl::StatusCode>(status.error_code()),
        absl::StrCat("the coordinator refused this worker: ", status.error_message()));
  }
  if (!stop)
    spdlog::warn("worker: stream to {} ended: {}", options.coordinator,
                 status.ok() ? "closed" : status.error_message());
  return served;
}

}  // namespace

absl::Status RunWorker(const WorkerOptions& options, const std::atomic<bool>& stop) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.tls_ca_pem.empty()
          ? grpc::InsecureChannelCredentials()
          : grpc::SslCredentials(grpc::SslCredentialsOptions{options.tls_ca_pem, "", ""});
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(64 << 20);
  auto channel = options.channel != nullptr
                     ? options.channel
                     : grpc::CreateCustomChannel(options.coordinator, credentials, arguments);
  auto stub = v1::WorkerService::NewStub(channel);
  auto executor = std::make_unique<TaskExecutor>(options.device);
  double backoff = 0.5;
  while (!stop) {
    auto served = ServeOnce(options, *stub, *executor, stop);
    if (!served.ok() && served.status().code() != absl::StatusCode::kUnavailable) {
      return served.status();
    }
    if (stop) break;
    // A coordinator that went away forgets its jobs' shards; so does this worker.
    executor = std::make_unique<TaskExecutor>(options.device);
    backoff = served.ok() && *served ? 0.5 : std::min(backoff * 2, options.max_backoff_s);
    spdlog::info("worker: reconnecting to {} in {:.1f} s", options.coordinator, backoff);
    SleepUnlessStopped(backoff, stop);
  }
  return absl::OkStatus();
}

}  // namespace quench::worker
