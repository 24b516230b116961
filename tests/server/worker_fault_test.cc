// Worker faults against an in-process coordinator, with a fake worker written here that speaks
// the WorkerService protocol: a task that keeps failing is tried --task-attempts times (new
// attempt numbers) and then fails its job with the worker's reason; results for any other
// attempt are ignored; a worker that stops sending heartbeats is declared lost.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "core/model/testgen.h"
#include "core/recipe/recipe.h"
#include "core/util/atomic_file.h"
#include "core/util/version.h"
#include "grpcpp/grpcpp.h"
#include "quench/v1/jobs.grpc.pb.h"
#include "quench/v1/worker.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/core/synthetic_model.h"
#include "tests/core/test_paths.h"
#include "worker/worker_connection.h"

namespace quench::server {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Registers, then answers tasks as `answer` says; records every (task, attempt) it was given.
class FakeWorker {
 public:
  // Returns the results to send for a task (in order).
  using Answer = std::function<std::vector<v1::TaskResult>(const v1::Task&)>;

  FakeWorker(int port, Answer answer, uint64_t memory_bytes = 0) : answer_(std::move(answer)) {
    stub_ = v1::WorkerService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                           grpc::InsecureChannelCredentials()));
    stream_ = stub_->Connect(&context_);
    v1::WorkerMessage hello;
    hello.mutable_register_()->set_worker_name("fake");
    hello.mutable_register_()->set_version(kQuenchVersion);
    auto* device = hello.mutable_register_()->add_devices();
    device->set_kind(v1::DEVICE_KIND_CPU);
    device->set_memory_bytes(memory_bytes);
    stream_->Write(hello);
    reader_ = std::thread([this] {
      for (v1::CoordinatorMessage message; stream_->Read(&message);) {
        if (!message.has_task()) continue;
        {
          std::lock_guard lock(mutex_);
          attempts_[message.task().task_id()].push_back(message.task().attempt());
          kinds_.insert(message.task()
                            .GetDescriptor()
                            ->FindFieldByNumber(message.task().kind_case())
                            ->name());
        }
        for (const v1::TaskResult& result : answer_(message.task())) {
          v1::WorkerMessage reply;
          *reply.mutable_result() = result;
          stream_->Write(reply);
        }
      }
    });
  }
  ~FakeWorker() {
    context_.TryCancel();
    reader_.join();
  }

  std::map<std::string, std::vector<int64_t>> attempts() {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  // The kinds of task it was given ("load_shard", "solve_gptq", ...).
  std::set<std::string> kinds() {
    std::lock_guard lock(mutex_);
    return kinds_;
  }

 private:
  Answer answer_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>> stream_;
  std::thread reader_;
  std::mutex mutex_;
  std::map<std::string, std::vector<int64_t>> attempts_;
  std::set<std::string> kinds_;
};

class WorkerFaultTest : public ::testing::Test {
 protected:
  void Start(double worker_timeout_s) {
    testing::WriteSyntheticModel(dir_ / "model", LlamaConfigJson(64, 128, 2, 4, 2, 96, 64), 7);
    std::mt19937 random(1);
    std::string tokens;
    for (int s = 0; s < 8; ++s) {
      tokens += "{\"input_ids\": [";
      for (int t = 0; t < 16; ++t) tokens += (t ? ", " : "") + std::to_string(random() % 96);
      tokens += "]}\n";
    }
    ASSERT_TRUE(WriteFileAtomically(dir_ / "calib.jsonl", tokens).ok());
    CoordinatorOptions options;
    options.listen = "127.0.0.1:0";
    options.http_listen.clear();
    options.data_dir = dir_ / "data";
    options.model_roots = {dir_.path()};
    options.worker_timeout_s = worker_timeout_s;
    options.max_task_attempts = 3;
    auto started = Coordinator::Start(options);
    ASSERT_TRUE(started.ok()) << started.status();
    coordinator_ = std::move(*started);
    stub_ = v1::JobService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(coordinator_->grpc_port()),
                            grpc::InsecureChannelCredentials()));
  }

  void WaitForWorkers(size_t count) {
    for (int i = 0; i < 400 && coordinator_->workers_connected() != count; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(coordinator_->workers_connected(), count);
  }

  // Submits a GPTQ job and waits for its end; the job as it ended.
  v1::Job RunJob() {
    v1::SubmitJobRequest request;
    request.mutable_model()->set_local_path((dir_ / "model").string());
    request.set_preset("gptq-w4g32");
    request.set_calibration_path((dir_ / "calib.jsonl").string());
    request.set_calibration_shards(2);
    grpc::ClientContext submit_context;
    v1::SubmitJobResponse submitted;
    EXPECT_TRUE(stub_->SubmitJob(&submit_context, request, &submitted).ok());
    grpc::ClientContext watch_context;
    watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    v1::WatchJobRequest watch;
    watch.set_job_id(submitted.job().job_id());
    auto reader = stub_->WatchJob(&watch_context, watch);
    v1::Job last;
    for (v1::WatchJobResponse event; reader->Read(&event);) last = event.job();
    return last;
  }

  TempDir dir_;
  std::unique_ptr<Coordinator> coordinator_;
  std::unique_ptr<v1::JobService::Stub> stub_;
};

TEST_F(WorkerFaultTest, TaskFailingEveryAttemptFailsTheJobWithItsReasonAndStaleResultsAreIgnored) {
  Start(/*worker_timeout_s=*/0);
  FakeWorker worker(coordinator_->grpc_port(), [](const v1::Task& task) {
    // A result for another attempt of the task comes first: it must not count.
    v1::TaskResult stale;
    stale.set_task_id(task.task_id());
    stale.set_attempt(task.attempt() + 7);
    stale.set_error("a stale attempt's result");
    v1::TaskResult failed;
    failed.set_task_id(task.task_id());
    failed.set_attempt(task.attempt());
    failed.set_error("injected failure");
    return std::vector<v1::TaskResult>{stale, failed};
  });
  WaitForWorkers(1);
  const v1::Job job = RunJob();
  EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(job.message().find("failed 3 times"), std::string::npos) << job.message();
  EXPECT_NE(job.message().find("injected failure"), std::string::npos) << job.message();
  EXPECT_EQ(job.message().find("stale"), std::string::npos) << job.message();
  const auto attempts = worker.attempts();
  ASSERT_FALSE(attempts.empty());
  EXPECT_EQ(attempts.begin()->second, (std::vector<int64_t>{1, 2, 3}))
      << "the first task, tried three times with new attempt numbers";
}

TEST_F(WorkerFaultTest, SilentWorkerIsDeclaredLostWithinItsTimeout) {
  Start(/*worker_timeout_s=*/1.0);
  // Never answers and never beats.
  FakeWorker worker(coordinator_->grpc_port(),
                    [](const v1::Task&) { return std::vector<v1::TaskResult>{}; });
  WaitForWorkers(1);
  const auto start = std::chrono::steady_clock::now();
  while (coordinator_->workers_connected() != 0 &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(coordinator_->workers_connected(), 0u);
  EXPECT_GE(seconds, 0.9);
  EXPECT_LT(seconds, 3.0) << "the timeout is 1 s, checked every 0.25 s";
  std::cout << "a silent worker was declared lost after " << seconds << " s (timeout 1 s)\n";
}

// Shards go where their activations fit: a worker registering too little memory for any shard
// is given none (only solves, which it fails, and which then move to the other worker); with no
// worker big enough, the job fails saying to raise calibration.shards.
TEST_F(WorkerFaultTest, ShardsArePlacedWhereTheirMemoryFits) {
  Start(/*worker_timeout_s=*/0);
  const auto failing = [](const v1::Task& task) {
    v1::TaskResult failed;
    failed.set_task_id(task.task_id());
    failed.set_attempt(task.attempt());
    failed.set_error("this worker cannot hold it");
    return std::vector<v1::TaskResult>{failed};
  };
  {
    FakeWorker small(coordinator_->grpc_port(), failing, /*memory_bytes=*/1000);
    WaitForWorkers(1);
    const v1::Job job = RunJob();
    EXPECT_EQ(job.state(), v1::JOB_STATE_FAILED);
    EXPECT_NE(job.message().find("raise calibration.shards"), std::string::npos) << job.message();
    EXPECT_EQ(small.kinds().count("load_shard"), 0u);
  }
  WaitForWorkers(0);
  FakeWorker small(coordinator_->grpc_port(), failing, /*memory_bytes=*/1000);
  worker::WorkerOptions big;
  big.coordinator = "127.0.0.1:" + std::to_string(coordinator_->grpc_port());
  big.device.memory_bytes = uint64_t{1} << 30;
  std::atomic<bool> stop{false};
  std::thread big_worker([&] { (void)worker::RunWorker(big, stop); });
  WaitForWorkers(2);
  const v1::Job job = RunJob();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.message();
  EXPECT_EQ(small.kinds().count("load_shard"), 0u) << "a shard went where it does not fit";
  stop = true;
  coordinator_->Shutdown();
  big_worker.join();
}

}  // namespace
}  // namespace quench::server
