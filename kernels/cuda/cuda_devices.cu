#include "kernels/cuda/cuda_devices.h"

#include <cuda_runtime.h>

namespace quench::kernels::cuda {

int DeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

}  // namespace quench::kernels::cuda
