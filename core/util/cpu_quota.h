// How many CPUs this process may use: the fewest of the machine's cores, the CPUs of its
// affinity mask, and a container's CPU limit (cgroup v2 cpu.max, or v1 cfs quota/period). A pod
// limited to 8 CPUs on a 128-core node should start 8 compute threads, not 128.
#pragma once

#include <optional>
#include <string>

namespace quench {

int AvailableCpus();

// The CPUs a cgroup v2 `cpu.max` line ("200000 100000") allows, rounded up; nullopt for "max"
// (no limit) or text that is not a quota.
std::optional<int> CpusFromCgroupCpuMax(const std::string& cpu_max);

}  // namespace quench
