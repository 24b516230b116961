// The one vendor header: CUDA runtime names on NVIDIA, their HIP equivalents on AMD (built with
// hipcc, which defines __HIP_PLATFORM_AMD__, or with QUENCH_HIP). Kernel sources include only
// this, so the same .cu files compile for sm_80/sm_90 and for gfx90a/gfx942.
#pragma once

#if defined(QUENCH_HIP) || defined(__HIP_PLATFORM_AMD__)
#include <hip/hip_runtime.h>

#define gpuError_t hipError_t
#define gpuSuccess hipSuccess
#define gpuGetErrorString hipGetErrorString
#define gpuGetLastError hipGetLastError
#define gpuGetDeviceCount hipGetDeviceCount
#define gpuSetDevice hipSetDevice
#define gpuMalloc hipMalloc
#define gpuFree hipFree
#define gpuMemcpy hipMemcpy
#define gpuMemcpyAsync hipMemcpyAsync
#define gpuMemsetAsync hipMemsetAsync
#define gpuMemcpyHostToDevice hipMemcpyHostToDevice
#define gpuMemcpyDeviceToHost hipMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice hipMemcpyDeviceToDevice
#define gpuStream_t hipStream_t
#define gpuStreamCreate hipStreamCreate
#define gpuStreamDestroy hipStreamDestroy
#define gpuStreamSynchronize hipStreamSynchronize
#define gpuDeviceProp hipDeviceProp_t
#define gpuGetDeviceProperties hipGetDeviceProperties
#define gpuMemGetInfo hipMemGetInfo
#define gpuMemcpy2D hipMemcpy2D
#else
#include <cuda_runtime.h>

#define gpuError_t cudaError_t
#define gpuSuccess cudaSuccess
#define gpuGetErrorString cudaGetErrorString
#define gpuGetLastError cudaGetLastError
#define gpuGetDeviceCount cudaGetDeviceCount
#define gpuSetDevice cudaSetDevice
#define gpuMalloc cudaMalloc
#define gpuFree cudaFree
#define gpuMemcpy cudaMemcpy
#define gpuMemcpyAsync cudaMemcpyAsync
#define gpuMemsetAsync cudaMemsetAsync
#define gpuMemcpyHostToDevice cudaMemcpyHostToDevice
#define gpuMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define gpuMemcpyDeviceToDevice cudaMemcpyDeviceToDevice
#define gpuStream_t cudaStream_t
#define gpuStreamCreate cudaStreamCreate
#define gpuStreamDestroy cudaStreamDestroy
#define gpuStreamSynchronize cudaStreamSynchronize
#define gpuDeviceProp cudaDeviceProp
#define gpuGetDeviceProperties cudaGetDeviceProperties
#define gpuMemGetInfo cudaMemGetInfo
#define gpuMemcpy2D cudaMemcpy2D
#endif

#include <cstdio>
#include <cstdlib>

// A failed runtime call means a broken device or a bug: the worker cannot go on, and the
// coordinator gives its tasks to another worker. The message says which call and why.
#define QUENCH_GPU_CHECK(call)                                                                     \
  do {                                                                                             \
    const gpuError_t quench_gpu_error = (call);                                                    \
    if (quench_gpu_error != gpuSuccess) {                                                          \
      std::fprintf(stderr, "quench: GPU call %s failed at %s:%d: %s\n", #call, __FILE__, __LINE__, \
                   gpuGetErrorString(quench_gpu_error));                                           \
      std::abort();                                                                                \
    }                                                                                              \
  } while (0)
