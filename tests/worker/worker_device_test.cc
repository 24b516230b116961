// quench-worker --device: what is accepted, and what each refusal says to do.
#include "worker/worker_device.h"

#include <gtest/gtest.h>

namespace quench::worker {
namespace {

std::string Refusal(const std::string& spec) {
  const auto device = ParseWorkerDevice(spec);
  EXPECT_FALSE(device.ok()) << spec;
  return device.ok() ? "" : std::string(device.status().message());
}

TEST(WorkerDeviceTest, CpuIsAlwaysThereWithTheMachinesMemory) {
  const auto device = ParseWorkerDevice("cpu");
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(device->kind, v1::DEVICE_KIND_CPU);
  EXPECT_GT(device->memory_bytes, 0u);
  // The CPU backend serves a CPU worker; no GPU solve updater.
  EXPECT_EQ(MakeSolveUpdater(*device), nullptr);
}

TEST(WorkerDeviceTest, MalformedSpecsNameTheAcceptedForms) {
  for (const char* spec : {"gpu:0", "cuda", "cuda:", "cuda:x", "cuda:-1", "hip:one", ""}) {
    EXPECT_NE(Refusal(spec).find("expected cpu, cuda:N or hip:N"), std::string::npos) << spec;
  }
}

TEST(WorkerDeviceTest, AVendorThisBuildLacksNamesTheBuildOption) {
#if QUENCH_WITH_HIP
  EXPECT_NE(Refusal("cuda:0").find("-DQUENCH_GPU=cuda"), std::string::npos);
#else
  EXPECT_NE(Refusal("hip:0").find("-DQUENCH_GPU=hip"), std::string::npos);
#endif
#if !QUENCH_WITH_GPU
  EXPECT_NE(Refusal("cuda:0").find("-DQUENCH_GPU=cuda"), std::string::npos);
#endif
}

#if QUENCH_WITH_GPU
TEST(WorkerDeviceTest, AnIndexPastTheMachinesGpusSaysHowManyThereAre) {
#if QUENCH_WITH_HIP
  const std::string spec = "hip:4096";
#else
  const std::string spec = "cuda:4096";
#endif
  EXPECT_NE(Refusal(spec).find("this machine has"), std::string::npos);
}
#endif

}  // namespace
}  // namespace quench::worker
