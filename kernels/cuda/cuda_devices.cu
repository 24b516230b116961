#include "kernels/cuda/cuda_devices.h"

#include "kernels/cuda/gpu_runtime.h"

namespace quench::kernels::cuda {

int DeviceCount() {
  int count = 0;
  if (gpuGetDeviceCount(&count) != gpuSuccess) {
    (void)gpuGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

std::string DeviceName(int device) {
  if (device < 0 || device >= DeviceCount()) return "";
  gpuDeviceProp properties;
  if (gpuGetDeviceProperties(&properties, device) != gpuSuccess) return "";
  return properties.name;
}

uint64_t DeviceTotalMemory(int device) {
  if (device < 0 || device >= DeviceCount()) return 0;
  gpuDeviceProp properties;
  if (gpuGetDeviceProperties(&properties, device) != gpuSuccess) return 0;
  return static_cast<uint64_t>(properties.totalGlobalMem);
}

}  // namespace quench::kernels::cuda
