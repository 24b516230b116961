// The CPU count a container's limit allows: cgroup v2 cpu.max lines, and the process's own.
#include "core/util/cpu_quota.h"

#include <sched.h>

#include <gtest/gtest.h>
#include <thread>

namespace quench {
namespace {

TEST(CpuQuotaTest, CgroupCpuMaxRoundsUpAndMaxMeansNoLimit) {
  EXPECT_EQ(CpusFromCgroupCpuMax("200000 100000\n"), 2);
  EXPECT_EQ(CpusFromCgroupCpuMax("150000 100000"), 2);  // 1.5 CPUs: two threads, one half idle
  EXPECT_EQ(CpusFromCgroupCpuMax("50000 100000"), 1);
  EXPECT_EQ(CpusFromCgroupCpuMax("800000 100000"), 8);
  EXPECT_EQ(CpusFromCgroupCpuMax("max 100000"), std::nullopt);
  EXPECT_EQ(CpusFromCgroupCpuMax(""), std::nullopt);
  EXPECT_EQ(CpusFromCgroupCpuMax("garbage"), std::nullopt);
  EXPECT_EQ(CpusFromCgroupCpuMax("0 100000"), std::nullopt);
}

TEST(CpuQuotaTest, AvailableCpusIsWithinTheAffinityMask) {
  cpu_set_t mask;
  ASSERT_EQ(sched_getaffinity(0, sizeof(mask), &mask), 0);
  const int cpus = AvailableCpus();
  EXPECT_GE(cpus, 1);
  EXPECT_LE(cpus, CPU_COUNT(&mask));
  EXPECT_LE(cpus, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

}  // namespace
}  // namespace quench
