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

}  // namespace quench::kernels::cuda
