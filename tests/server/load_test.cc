// Load on the coordinator: 10 clients submit 50 small jobs at once, each job watched to its end
// by a watcher of its own. Every job must complete exactly once; submit latency is printed
// (a figure for the issue note, never a pass/fail bound).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "core/model/testgen.h"
#include "grpcpp/grpcpp.h"
#include "quench/v1/jobs.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/core/test_paths.h"
#include "tests/job/job_test_support.h"

namespace quench::server {
namespace {

using testing::TempDir;

constexpr int kClients = 10;
constexpr int kJobsPerClient = 5;

TEST(CoordinatorLoadTest, FiftyJobsFromTenClientsAllCompleteOnce) {
  TempDir dir;
  const auto models = dir / "models";
  TestgenOptions testgen;
  ASSERT_TRUE(
      WriteSyntheticModel(models / "tiny", LlamaConfigJson(64, 96, 2, 4, 2, 128, 64), testgen)
          .ok());
  {
    std::ofstream calib(models / "calib.jsonl");
    for (const auto& sequence : testing::RandomSequences(128, 8, 32, 3)) {
      calib << "{\"input_ids\": [";
      for (size_t i = 0; i < sequence.size(); ++i) calib << (i ? "," : "") << sequence[i];
      calib << "]}\n";
    }
  }
  CoordinatorOptions options;
  options.listen = "127.0.0.1:0";
  options.http_listen = "";
  options.data_dir = dir / "data";
  options.model_roots = {models};
  options.runners = 2;
  auto coordinator = Coordinator::Start(options);
  ASSERT_TRUE(coordinator.ok()) << coordinator.status();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*coordinator)->grpc_port()),
                                     grpc::InsecureChannelCredentials());

  std::mutex mutex;
  std::vector<double> latencies_ms;
  std::multiset<std::string> job_ids;
  std::vector<v1::JobState> final_states;
  std::vector<std::string> errors;
  const auto run_client = [&](int client) {
    auto stub = v1::JobService::NewStub(channel);
    std::vector<std::thread> watchers;
    for (int j = 0; j < kJobsPerClient; ++j) {
      v1::SubmitJobRequest request;
      request.set_request_id("load-" + std::to_string(client) + "-" + std::to_string(j));
      request.mutable_model()->set_local_path("tiny");
      request.set_preset(j % 2 == 0 ? "gptq-w4g32" : "rtn-w4g32");
      request.set_calibration_path("calib.jsonl");
      request.set_calibration_shards(2);
      v1::SubmitJobResponse response;
      grpc::ClientContext context;
      const auto start = std::chrono::steady_clock::now();
      const grpc::Status status = stub->SubmitJob(&context, request, &response);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      std::lock_guard lock(mutex);
      if (!status.ok()) {
        errors.push_back(status.error_message());
        continue;
      }
      latencies_ms.push_back(ms);
      job_ids.insert(response.job().job_id());
      watchers.emplace_back([&, job_id = response.job().job_id()] {
        auto watch_stub = v1::JobService::NewStub(channel);
        grpc::ClientContext watch_context;
        watch_context.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
        v1::WatchJobRequest watch;
        watch.set_job_id(job_id);
        auto reader = watch_stub->WatchJob(&watch_context, watch);
        v1::JobState last = v1::JOB_STATE_UNSPECIFIED;
        for (v1::WatchJobResponse event; reader->Read(&event);) last = event.job().state();
        reader->Finish();
        std::lock_guard watcher_lock(mutex);
        final_states.push_back(last);
      });
    }
    for (auto& watcher : watchers) watcher.join();
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) clients.emplace_back(run_client, c);
  for (auto& client : clients) client.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  EXPECT_TRUE(errors.empty()) << errors.front();
  ASSERT_EQ(job_ids.size(), static_cast<size_t>(kClients * kJobsPerClient));
  EXPECT_EQ(std::set<std::string>(job_ids.begin(), job_ids.end()).size(), job_ids.size())
      << "a job id was handed out twice";
  ASSERT_EQ(final_states.size(), job_ids.size());
  for (v1::JobState state : final_states) EXPECT_EQ(state, v1::JOB_STATE_SUCCEEDED);

  // The store holds exactly these jobs, each succeeded.
  auto stub = v1::JobService::NewStub(channel);
  v1::ListJobsRequest list;
  list.set_page_size(1000);
  v1::ListJobsResponse listed;
  grpc::ClientContext context;
  ASSERT_TRUE(stub->ListJobs(&context, list, &listed).ok());
  std::set<std::string> stored;
  for (const auto& job : listed.jobs()) {
    stored.insert(job.job_id());
    EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED) << job.job_id() << ": " << job.message();
  }
  EXPECT_EQ(stored, std::set<std::string>(job_ids.begin(), job_ids.end()));

  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto percentile = [&](double p) {
    return latencies_ms[std::min(
        latencies_ms.size() - 1,
        static_cast<size_t>(p * static_cast<double>(latencies_ms.size())))];
  };
  std::printf("load: %zu jobs from %d clients in %.2f s; submit latency p50 %.1f ms, p99 %.1f ms\n",
              latencies_ms.size(), kClients, seconds, percentile(0.5), percentile(0.99));
}

}  // namespace
}  // namespace quench::server
