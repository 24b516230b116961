// Which workers a job uses: all of one device kind (CUDA before HIP before CPU), so its bytes do
// not depend on the mix it met; workers that named no device count as CPU.
#include "server/worker_registry.h"

#include <gtest/gtest.h>

namespace quench::server {
namespace {

std::shared_ptr<ConnectedWorker> Worker(const std::string& name, v1::DeviceKind kind) {
  v1::RegisterWorker registration;
  registration.set_worker_name(name);
  if (kind != v1::DEVICE_KIND_UNSPECIFIED) registration.add_devices()->set_kind(kind);
  return std::make_shared<ConnectedWorker>(registration, nullptr);
}

std::vector<std::string> Names(const std::vector<std::shared_ptr<ConnectedWorker>>& workers) {
  std::vector<std::string> names;
  for (const auto& worker : workers) names.push_back(worker->name());
  return names;
}

TEST(WorkersForJobTest, OneDeviceKindPreferringGpus) {
  const auto cpu1 = Worker("cpu1", v1::DEVICE_KIND_CPU);
  const auto gpu1 = Worker("gpu1", v1::DEVICE_KIND_CUDA);
  const auto bare = Worker("bare", v1::DEVICE_KIND_UNSPECIFIED);
  const auto gpu2 = Worker("gpu2", v1::DEVICE_KIND_CUDA);
  const auto amd = Worker("amd", v1::DEVICE_KIND_HIP);
  EXPECT_EQ(Names(WorkersForJob({cpu1, gpu1, bare, gpu2, amd})),
            (std::vector<std::string>{"gpu1", "gpu2"}));
  EXPECT_EQ(Names(WorkersForJob({cpu1, amd, bare})), (std::vector<std::string>{"amd"}));
  EXPECT_EQ(Names(WorkersForJob({cpu1, bare})), (std::vector<std::string>{"cpu1", "bare"}));
  EXPECT_TRUE(WorkersForJob({}).empty());
  EXPECT_EQ(DeviceKindOf(*bare), v1::DEVICE_KIND_CPU);
}

}  // namespace
}  // namespace quench::server
