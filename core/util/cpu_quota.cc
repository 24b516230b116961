#include "core/util/cpu_quota.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
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

// cgroup v2: the process's own group ("0::/kubepods/…" in /proc/self/cgroup) and its parents;
// the tightest cpu.max wins. Inside a container's cgroup namespace the group is "/".
std::optional<int> CgroupV2CpuLimit() {
  const std::optional<std::string> groups = ReadSmallFile("/proc/self/cgroup");
  std::string group = "/";
  if (groups) {
    std::istringstream lines(*groups);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("0::", 0) == 0) group = line.substr(3);
    }
  }
  std::optional<int> tightest;
  for (std::filesystem::path dir = std::filesystem::path("/sys/fs/cgroup") / group.substr(1);;
       dir = dir.parent_path()) {
    if (auto cpu_max = ReadSmallFile((dir / "cpu.max").c_str())) {
      if (auto cpus = CpusFromCgroupCpuMax(*cpu_max)) {
        tightest = tightest ? std::min(*tightest, *cpus) : *cpus;
      }
    }
    if (dir == "/sys/fs/cgroup" || dir == dir.parent_path()) break;
  }
  return tightest;
}

std::optional<int> CgroupCpuLimit() {
  if (std::filesystem::exists("/sys/fs/cgroup/cgroup.controllers")) return CgroupV2CpuLimit();
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
