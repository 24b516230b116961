#include "core/util/cpu_quota.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace quench {
namespace {

std::optional<std::string> ReadSmallFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<int> CpusFromQuota(double quota, double period) {
  if (!(quota > 0) || !(period > 0)) return std::nullopt;
  return std::max(1, static_cast<int>(std::ceil(quota / period)));
}

std::optional<int> CgroupCpuLimit() {
  if (auto v2 = ReadSmallFile("/sys/fs/cgroup/cpu.max")) return CpusFromCgroupCpuMax(*v2);
  auto quota = ReadSmallFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  auto period = ReadSmallFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  try {
    return CpusFromQuota(std::stod(*quota), std::stod(*period));  // quota -1: no limit
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::optional<int> CpusFromCgroupCpuMax(const std::string& cpu_max) {
  std::istringstream fields(cpu_max);
  std::string quota, period;
  if (!(fields >> quota >> period) || quota == "max") return std::nullopt;
  try {
    return CpusFromQuota(std::stod(quota), std::stod(period));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

int AvailableCpus() {
  int cpus = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t mask;
  if (sched_getaffinity(0, sizeof(mask), &mask) == 0) cpus = std::min(cpus, CPU_COUNT(&mask));
  if (const std::optional<int> limit = CgroupCpuLimit()) cpus = std::min(cpus, *limit);
  return std::max(1, cpus);
}

}  // namespace quench
