// A whole stories260K GPTQ job on a GPU worker (label `gpu`): an in-process coordinator with one
// quench-worker loop on cuda:0, against the same job on a CPU worker. The GPU sums in other
// orders, so the bytes differ; every layer's relative output error must agree within 10% and
// the job must succeed. Skips without a CUDA device.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/recipe/recipe.h"
#include "grpcpp/grpcpp.h"
#include "kernels/cuda/cuda_devices.h"
#include "nlohmann/json.hpp"
#include "quench/v1/jobs.grpc.pb.h"
#include "server/coordinator.h"
#include "tests/core/test_paths.h"
#include "worker/worker_connection.h"

namespace quench {
namespace {

namespace fs = std::filesystem;

// The job's report.json layers, after running it with one worker on `device`.
nlohmann::json RunOnWorker(const std::string& device_spec, const fs::path& data_dir) {
  server::CoordinatorOptions options;
  options.listen = "127.0.0.1:0";
  options.http_listen.clear();
  options.data_dir = data_dir;
  options.model_roots = {fs::canonical(testing::SharedPath(""))};
  auto coordinator = server::Coordinator::Start(options);
  EXPECT_TRUE(coordinator.ok()) << coordinator.status();
  if (!coordinator.ok()) return nullptr;
  const std::string address = "127.0.0.1:" + std::to_string((*coordinator)->grpc_port());
  worker::WorkerOptions worker_options;
  worker_options.coordinator = address;
  worker_options.device = *worker::ParseWorkerDevice(device_spec);
  std::atomic<bool> stop{false};
  std::thread worker([&] { (void)worker::RunWorker(worker_options, stop); });
  while ((*coordinator)->workers_connected() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto stub =
      v1::JobService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::SubmitJobRequest request;
  request.mutable_model()->set_local_path(
      fs::canonical(testing::SharedPath("models/stories260K")).string());
  Recipe recipe = LoadPreset("gptq-w4g32").value();
  recipe.calibration.samples = 16;
  request.set_recipe(RecipeToYaml(recipe));
  request.set_calibration_path(
      fs::canonical(testing::SharedPath("data/stories260K-calib.jsonl")).string());
  grpc::ClientContext submit_context;
  v1::SubmitJobResponse submitted;
  EXPECT_TRUE(stub->SubmitJob(&submit_context, request, &submitted).ok());
  grpc::ClientContext watch_context;
  v1::WatchJobRequest watch;
  watch.set_job_id(submitted.job().job_id());
  auto reader = stub->WatchJob(&watch_context, watch);
  v1::Job last;
  for (v1::WatchJobResponse event; reader->Read(&event);) last = event.job();
  stop = true;
  (*coordinator)->Shutdown();
  worker.join();
  EXPECT_EQ(last.state(), v1::JOB_STATE_SUCCEEDED) << device_spec << ": " << last.message();
  const auto report = nlohmann::json::parse(last.report_json(), nullptr, false);
  return report.is_object() ? report["layers"] : nlohmann::json();
}

TEST(GpuWorkerTest, Stories260KGptqJobOnAGpuWorkerMatchesACpuWorkersErrors) {
  if (kernels::cuda::DeviceCount() == 0) {
    GTEST_SKIP() << "no CUDA device here: the gpu tests run where one is lent";
  }
  if (!fs::exists(testing::SharedPath("models/stories260K"))) {
    GTEST_SKIP() << "missing fixture " << testing::SharedPath("models/stories260K");
  }
  testing::TempDir dir;
  const nlohmann::json gpu = RunOnWorker("cuda:0", dir / "gpu");
  const nlohmann::json cpu = RunOnWorker("cpu", dir / "cpu");
  ASSERT_TRUE(gpu.is_array() && cpu.is_array());
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    const double g = gpu[i]["relative_output_error"], c = cpu[i]["relative_output_error"];
    EXPECT_NEAR(g, c, 0.1 * c) << cpu[i]["name"];
  }
}

}  // namespace
}  // namespace quench
