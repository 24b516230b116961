// What the CUDA (or HIP) runtime sees: the devices a worker can offer the coordinator.
#pragma once

#include <cstdint>
#include <string>

namespace quench::kernels::cuda {

// Number of usable devices; 0 when there is no driver or no device (never an error).
int DeviceCount();
// The device's name ("NVIDIA H200") and its free and total memory; empty / 0 for a bad index.
std::string DeviceName(int device);
uint64_t DeviceTotalMemory(int device);

}  // namespace quench::kernels::cuda
